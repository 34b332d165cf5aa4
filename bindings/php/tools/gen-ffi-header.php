<?php
/*
 * gen-ffi-header.php - writes the preprocessor-free copy of include/throttlekit.h that PHP's
 * FFI::cdef() parses (FFI understands no directive besides FFI_LIB/FFI_SCOPE).
 *
 *   php tools/gen-ffi-header.php [--preload] [INPUT.h [OUTPUT.h]]
 *   php tools/gen-ffi-header.php --check [--preload] [INPUT.h [OUTPUT.h]]   (exit 1 when stale)
 *
 * Defaults: <repo>/include/throttlekit.h -> bindings/php/throttlekit.ffi.h (committed: the
 * package ships it; a test fails when it drifts from the header). --preload writes the
 * ffi.preload variant, bindings/php/throttlekit.preload.h: the same declarations after
 * `#define FFI_SCOPE "THROTTLEKIT"` and `#define FFI_LIB "libthrottlekit.so.0"`.
 *
 * It removes comments, evaluates the conditionals the header uses (#ifndef / #ifdef /
 * #if [!]defined(X) / #else / #endif, with __cplusplus undefined, so `extern "C" {` goes),
 * drops #include / #define / #undef / #pragma, and keeps every typedef, enum and prototype
 * as written: the statuses stay enums, so FFI exposes TK_OK, TK_E_* as constants. Macros
 * are not substituted: a declaration that uses one fails the generation loudly.
 */
declare(strict_types=1);

function tk_strip_comments(string $src): string
{
    $out = '';
    $n = strlen($src);
    for ($i = 0; $i < $n; $i++) {
        $c = $src[$i];
        $next = $i + 1 < $n ? $src[$i + 1] : '';
        if ($c === '"' || $c === "'") {
            $j = $i + 1;
            while ($j < $n && $src[$j] !== $c) {
                $j += $src[$j] === '\\' ? 2 : 1;
            }
            $out .= substr($src, $i, $j - $i + 1);
            $i = $j;
        } elseif ($c === '/' && $next === '*') {
            $end = strpos($src, '*/', $i + 2);
            if ($end === false) {
                throw new RuntimeException('unterminated comment');
            }
            $comment = substr($src, $i, $end + 2 - $i);
            $out .= ' ' . str_repeat("\n", substr_count($comment, "\n")); // keep line numbers
            $i = $end + 1;
        } elseif ($c === '/' && $next === '/') {
            $end = strpos($src, "\n", $i);
            $i = ($end === false ? $n : $end) - 1;
        } else {
            $out .= $c;
        }
    }
    return $out;
}

function tk_generate_ffi_header(string $src, string $inputName): string
{
    $src = str_replace("\r\n", "\n", $src);
    $src = preg_replace('/\\\\\n/', '', tk_strip_comments($src)); // line continuations
    $defined = [];
    $stack = []; // each: [active, parentActive, taken]
    $active = true;
    $kept = [];
    foreach (explode("\n", $src) as $no => $line) {
        $where = $inputName . ':' . ($no + 1);
        if (preg_match('/^\s*#\s*(\w+)\s*(.*?)\s*$/', $line, $m)) {
            [, $dir, $arg] = $m;
            switch ($dir) {
                case 'ifdef':
                case 'ifndef':
                case 'if':
                    if ($dir === 'if') {
                        $cond = tk_eval_if($arg, $defined, $where);
                    } else {
                        $cond = isset($defined[$arg]) === ($dir === 'ifdef');
                    }
                    $stack[] = [$active, $cond];
                    $active = $active && $cond;
                    break;
                case 'else':
                    if (!$stack) {
                        throw new RuntimeException("$where: #else without #if");
                    }
                    [$parent, $cond] = array_pop($stack);
                    $stack[] = [$parent, !$cond];
                    $active = $parent && !$cond;
                    break;
                case 'endif':
                    if (!$stack) {
                        throw new RuntimeException("$where: #endif without #if");
                    }
                    [$active] = array_pop($stack);
                    break;
                case 'define':
                    if ($active && preg_match('/^(\w+)/', $arg, $d)) {
                        $defined[$d[1]] = true;
                    }
                    break;
                case 'undef':
                    if ($active) {
                        unset($defined[$arg]);
                    }
                    break;
                case 'include':
                case 'pragma':
                    break; // FFI knows the <stdint.h> / <stddef.h> types itself
                default:
                    throw new RuntimeException("$where: unsupported directive #$dir");
            }
            continue;
        }
        if ($active) {
            $kept[] = rtrim($line);
        }
    }
    if ($stack) {
        throw new RuntimeException("$inputName: unterminated #if");
    }
    // Macros are not expanded: any TK_ macro name left in the code would be a silent miss.
    $body = preg_replace("/\n{3,}/", "\n\n", trim(implode("\n", $kept))) . "\n";
    foreach (array_keys($defined) as $macro) {
        if (preg_match('/\b' . preg_quote($macro, '/') . '\b/', $body)) {
            throw new RuntimeException("$inputName: macro $macro is used in a declaration; "
                . 'the generator does not expand macros');
        }
    }
    return "/* GENERATED from $inputName by bindings/php/tools/gen-ffi-header.php: do not edit."
        . " Regenerate with `make -C bindings/php ffi-header`. */\n" . $body;
}

/** The scope name the preload header declares; ThrottleKit\Native::SCOPE. */
const TK_FFI_SCOPE = 'THROTTLEKIT';
/** The library the preload header names: the soname, found through the system path. */
const TK_FFI_LIB = 'libthrottlekit.so.0';

/**
 * The ffi.preload variant: FFI_SCOPE and FFI_LIB first (PHP reads them only as the first
 * lines), then the declarations tk_generate_ffi_header() writes.
 */
function tk_generate_ffi_preload_header(string $src, string $inputName, string $lib = TK_FFI_LIB): string
{
    return '#define FFI_SCOPE "' . TK_FFI_SCOPE . "\"\n" . '#define FFI_LIB "' . $lib . "\"\n"
        . tk_generate_ffi_header($src, $inputName);
}

function tk_eval_if(string $expr, array $defined, string $where): bool
{
    $e = trim($expr);
    if ($e === '0' || $e === '1') {
        return $e === '1';
    }
    if (preg_match('/^(!?)\s*defined\s*\(?\s*(\w+)\s*\)?$/', $e, $m)) {
        return isset($defined[$m[2]]) !== ($m[1] === '!');
    }
    throw new RuntimeException("$where: unsupported #if expression '$expr'");
}

if (PHP_SAPI === 'cli' && realpath($_SERVER['SCRIPT_FILENAME'] ?? '') === __FILE__) {
    $args = array_slice($argv, 1);
    $check = $preload = false;
    while ($args && in_array($args[0], ['--check', '--preload'], true)) {
        if (array_shift($args) === '--check') {
            $check = true;
        } else {
            $preload = true;
        }
    }
    $root = dirname(__DIR__, 3);
    $in = $args[0] ?? $root . '/include/throttlekit.h';
    $out = $args[1] ?? dirname(__DIR__) . ($preload ? '/throttlekit.preload.h' : '/throttlekit.ffi.h');
    try {
        $src = @file_get_contents($in);
        if ($src === false) {
            throw new RuntimeException("cannot read $in");
        }
        $name = basename(dirname($in)) . '/' . basename($in);
        $text = $preload ? tk_generate_ffi_preload_header($src, $name) : tk_generate_ffi_header($src, $name);
    } catch (RuntimeException $e) {
        fwrite(STDERR, 'gen-ffi-header: ' . $e->getMessage() . "\n");
        exit(1);
    }
    if ($check) {
        if (@file_get_contents($out) !== $text) {
            fwrite(STDERR, "gen-ffi-header: $out is missing or stale; run make -C bindings/php ffi-header\n");
            exit(1);
        }
        exit(0);
    }
    if (!is_dir(dirname($out)) && !mkdir(dirname($out), 0777, true) && !is_dir(dirname($out))) {
        fwrite(STDERR, "gen-ffi-header: cannot create " . dirname($out) . "\n");
        exit(1);
    }
    $tmp = $out . '.tmp' . getmypid();
    if (file_put_contents($tmp, $text) === false || !rename($tmp, $out)) {
        @unlink($tmp);
        fwrite(STDERR, "gen-ffi-header: cannot write $out\n");
        exit(1);
    }
    fwrite(STDERR, "gen-ffi-header: wrote $out\n");
}
