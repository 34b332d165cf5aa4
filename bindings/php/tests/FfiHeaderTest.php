<?php

declare(strict_types=1);

namespace ThrottleKit\Tests;

use PHPUnit\Framework\TestCase;
use ThrottleKit\Native;

require_once dirname(__DIR__) . '/tools/gen-ffi-header.php';

/** The generated FFI header: current, preprocessor-free, complete, and the layout FFI sees. */
final class FfiHeaderTest extends TestCase
{
    private static function source(): string
    {
        return (string) file_get_contents(TestEnv::repoRoot() . '/include/throttlekit.h');
    }

    /** The committed copies the package ships: equal to what the generator makes of the header. */
    public function testCommittedHeadersAreCurrent(): void
    {
        $dir = dirname(__DIR__);
        $this->assertSame(tk_generate_ffi_header(self::source(), 'include/throttlekit.h'),
            (string) @file_get_contents("$dir/throttlekit.ffi.h"),
            "bindings/php/throttlekit.ffi.h differs from include/throttlekit.h: run make -C bindings/php ffi-header and commit it");
        $this->assertSame(tk_generate_ffi_preload_header(self::source(), 'include/throttlekit.h'),
            (string) @file_get_contents("$dir/throttlekit.preload.h"),
            "bindings/php/throttlekit.preload.h differs from include/throttlekit.h: run make -C bindings/php ffi-header and commit it");
        if (getenv('THROTTLEKIT_FFI_HEADER') === false) {
            $this->assertSame("$dir/throttlekit.ffi.h", Native::headerPath(), 'the default header is the committed one');
        }
        $preload = (string) file_get_contents("$dir/throttlekit.preload.h");
        $this->assertStringStartsWith("#define FFI_SCOPE \"" . Native::SCOPE . "\"\n#define FFI_LIB \"libthrottlekit.so.0\"\n", $preload);
    }

    /**
     * ffi.preload: PHP loads the preload header's FFI_LIB at startup, and the client takes the
     * library from \FFI::scope('THROTTLEKIT') with no lib option and no THROTTLEKIT_LIB (here
     * FFI_LIB names this build's library; the installed package's header names the soname).
     */
    public function testFfiPreloadScopeIsUsed(): void
    {
        $lib = TestEnv::lib($this);
        $header = tempnam(sys_get_temp_dir(), 'tkpre') . '.h';
        file_put_contents($header, tk_generate_ffi_preload_header(self::source(), 'include/throttlekit.h', $lib));
        $script = tempnam(sys_get_temp_dir(), 'tkpre') . '.php';
        file_put_contents($script, '<?php require ' . var_export(dirname(__DIR__) . '/autoload.php', true) . ';'
            . ' $tk = ThrottleKit\Client::memory("version: 1\nlimiters:\n  api: { strategy: gcra, limit: 2, period: 1m, burst: 2 }\n");'
            . ' $d = [$tk->check("api", "k")->allowed, $tk->check("api", "k")->allowed, $tk->check("api", "k")->allowed];'
            . ' echo json_encode([ThrottleKit\Native::source(), $d]);');
        $env = ['PATH' => (string) getenv('PATH'), 'LD_LIBRARY_PATH' => '/nonexistent'];
        $p = proc_open([PHP_BINARY, '-d', 'ffi.enable=preload', '-d', 'ffi.preload=' . $header, $script],
            [1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes, null, $env);
        $out = trim(stream_get_contents($pipes[1]) . stream_get_contents($pipes[2]));
        proc_close($p);
        unlink($header);
        unlink($script);
        $this->assertSame('["scope THROTTLEKIT",[true,true,false]]', $out);
    }

    public function testNoPreprocessorLinesAndEveryFunctionDeclared(): void
    {
        $gen = tk_generate_ffi_header(self::source(), 'include/throttlekit.h');
        $this->assertDoesNotMatchRegularExpression('/^\s*#/m', $gen);
        $this->assertStringNotContainsString('extern "C"', $gen);
        $this->assertStringNotContainsString('TK_VERSION_', $gen);
        preg_match_all('/\b(tk_\w+)\s*\(/', self::source(), $m);
        $functions = array_unique($m[1]);
        $this->assertGreaterThanOrEqual(16, count($functions));
        foreach ($functions as $fn) {
            $this->assertMatchesRegularExpression('/\b' . $fn . '\s*\(/', $gen, "$fn missing");
        }
    }

    public function testEnumsAndLayoutAsFfiSeesThem(): void
    {
        $ffi = Native::load(TestEnv::lib($this));
        $expected = ['TK_OK' => 0, 'TK_E_INVALID' => -1, 'TK_E_BADHANDLE' => -2, 'TK_E_NOT_FOUND' => -3,
            'TK_E_UNSUPPORTED' => -4, 'TK_E_UNAVAILABLE' => -5, 'TK_E_TIMEOUT' => -6, 'TK_E_CONFIG' => -7,
            'TK_E_FORKED' => -8, 'TK_E_INTERNAL' => -9, 'TK_E_AUTH' => -10, 'TK_FAIL_ERROR' => 0,
            'TK_FAIL_OPEN' => 1, 'TK_FAIL_CLOSED' => 2, 'TK_DECISION_SYNTHESIZED' => 1];
        foreach ($expected as $name => $value) {
            $this->assertSame($value, $ffi->{$name}, $name);
        }
        // LP64 layouts, as include/throttlekit.h defines them (tests/c/abi_layout.c checks C's side).
        $this->assertSame(72, \FFI::sizeof($ffi->type('tk_options_t')));
        $this->assertSame(72, \FFI::sizeof($ffi->type('tk_decision_t')));
        $this->assertSame(24, \FFI::sizeof($ffi->type('tk_forecast_t')));
        $this->assertSame(260, \FFI::sizeof($ffi->type('tk_error_t')));
        $this->assertSame(24, \FFI::sizeof($ffi->type('tk_check_item_t')));
        $item = $ffi->new('tk_check_item_t');
        $this->assertSame(16, \FFI::cast('char *', \FFI::addr($item->cost)) - \FFI::cast('char *', \FFI::addr($item)));
        $this->assertSame(176, \FFI::sizeof($ffi->type('tk_admission_t')));
        $opts = $ffi->new('tk_options_t');
        $ffi->tk_options_init(\FFI::addr($opts));
        $this->assertSame(72, $opts->struct_size);
        $this->assertMatchesRegularExpression('/^\d+\.\d+\.\d+$/', $ffi->tk_version());
        $this->assertNotSame('', $ffi->tk_strerror(-8));
    }

    public function testGeneratorRefusesWhatItCannotTranslate(): void
    {
        foreach (["#if FOO > 1\nint x;\n#endif\n", "#define N 4\nint a[N];\n", "#ifdef X\nint x;\n",
                     "#error no\n"] as $src) {
            try {
                tk_generate_ffi_header($src, 'in.h');
                $this->fail('accepted: ' . $src);
            } catch (\RuntimeException $e) {
                $this->assertStringContainsString('in.h', $e->getMessage());
            }
        }
        $this->assertSame("int y;\n", preg_replace('/^\/\*.*\*\/\n/', '',
            tk_generate_ffi_header("/* a */\n#ifdef __cplusplus\nextern \"C\" {\n#else\nint y; // c\n#endif\n", 'in.h')));
    }

    public function testGeneratorCheckModeFlagsAStaleCopy(): void
    {
        $tmp = tempnam(sys_get_temp_dir(), 'tkffi');
        file_put_contents($tmp, "stale\n");
        $tool = dirname(__DIR__) . '/tools/gen-ffi-header.php';
        $src = TestEnv::repoRoot() . '/include/throttlekit.h';
        exec(implode(' ', array_map('escapeshellarg', [PHP_BINARY, $tool, '--check', $src, $tmp])) . ' 2>&1', $out, $rc);
        $this->assertSame(1, $rc);
        exec(implode(' ', array_map('escapeshellarg', [PHP_BINARY, $tool, $src, $tmp])) . ' 2>&1', $out, $rc);
        $this->assertSame(0, $rc);
        exec(implode(' ', array_map('escapeshellarg', [PHP_BINARY, $tool, '--check', $src, $tmp])) . ' 2>&1', $out, $rc);
        $this->assertSame(0, $rc);
        unlink($tmp);
    }
}
