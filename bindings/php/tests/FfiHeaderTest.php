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

    public function testGeneratedHeaderIsCurrent(): void
    {
        $path = Native::headerPath();
        $this->assertFileExists($path, 'run make -C bindings/php ffi-header');
        $this->assertSame(tk_generate_ffi_header(self::source(), 'include/throttlekit.h'), file_get_contents($path),
            "$path is stale: run make -C bindings/php ffi-header");
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
