<?php

declare(strict_types=1);

namespace ThrottleKit;

use ThrottleKit\Exception\LibraryException;

/**
 * @internal Loads libthrottlekit through FFI, once per library path and process image.
 *
 * Loading only dlopen()s the small C shim: the Go core starts at the first tk_open_*, so an
 * FFI instance made before a fork is safe to use in the children (the Client's pid check
 * decides when a handle may be opened).
 */
final class Native
{
    /** The system library names tried last, in order. */
    public const SYSTEM_NAMES = ['libthrottlekit.so.0', 'libthrottlekit.so'];

    /** @var array<string, \FFI> keyed by the library path asked for */
    private static array $loaded = [];

    /** The generated, preprocessor-free header: option, $THROTTLEKIT_FFI_HEADER, the build copy. */
    public static function headerPath(?string $explicit = null): string
    {
        if ($explicit !== null && $explicit !== '') {
            return $explicit;
        }
        $env = getenv('THROTTLEKIT_FFI_HEADER');
        if (is_string($env) && $env !== '') {
            return $env;
        }
        return dirname(__DIR__) . '/build/throttlekit.ffi.h';
    }

    /**
     * The FFI instance for libthrottlekit: $lib when given, else $THROTTLEKIT_LIB when set,
     * else the system search path (libthrottlekit.so.0, then libthrottlekit.so).
     *
     * @throws LibraryException naming every place it looked
     */
    public static function load(?string $lib = null, ?string $header = null): \FFI
    {
        $headerPath = self::headerPath($header);
        $cacheKey = ($lib ?? "\0") . "\0" . $headerPath;
        if (isset(self::$loaded[$cacheKey])) {
            return self::$loaded[$cacheKey];
        }
        if (!extension_loaded('ffi')) {
            throw new LibraryException('the PHP FFI extension is not loaded (Debian: apt-get install php-cli; '
                . 'elsewhere build PHP with --with-ffi)');
        }
        $decls = @file_get_contents($headerPath);
        if ($decls === false) {
            throw new LibraryException("the FFI header $headerPath is missing: generate it with "
                . '`make -C bindings/php ffi-header` (or set THROTTLEKIT_FFI_HEADER)');
        }

        if ($lib !== null && $lib !== '') {
            $candidates = ["the 'lib' option" => $lib];
        } else {
            $env = getenv('THROTTLEKIT_LIB');
            if (is_string($env) && $env !== '') {
                $candidates = ['THROTTLEKIT_LIB' => $env];
            } else {
                $candidates = [];
                foreach (self::SYSTEM_NAMES as $i => $name) {
                    $candidates["the system library path #$i"] = $name;
                }
            }
        }

        $tried = [];
        foreach ($candidates as $source => $path) {
            try {
                $ffi = \FFI::cdef($decls, $path);
            } catch (\FFI\ParserException $e) {
                throw new LibraryException("the FFI header $headerPath does not parse: " . $e->getMessage()
                    . ' (regenerate it with `make -C bindings/php ffi-header`)', 0, $e);
            } catch (\FFI\Exception $e) {
                $tried[] = sprintf('%s (%s): %s', $path, preg_replace('/ #\d+$/', '', $source), $e->getMessage());
                continue;
            } catch (\Error $e) {
                // FFI disabled by ffi.enable (or a preload-only restriction outside CLI/preload).
                throw new LibraryException('PHP FFI is not usable here: ' . $e->getMessage()
                    . ' (set ffi.enable=1, or ffi.enable=preload with this package in opcache.preload; see bindings/php/README.md)', 0, $e);
            }
            return self::$loaded[$cacheKey] = $ffi;
        }
        throw new LibraryException("cannot load libthrottlekit; looked in:\n  - " . implode("\n  - ", $tried)
            . "\n(pass the 'lib' option, set THROTTLEKIT_LIB to e.g. build/lib/libthrottlekit.so, "
            . 'or install the library with `make install`)');
    }
}
