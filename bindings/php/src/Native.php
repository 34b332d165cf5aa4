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

    /**
     * The FFI scope throttlekit.preload.h declares (#define FFI_SCOPE): with
     * ffi.preload=<package>/throttlekit.preload.h, PHP loads the library at startup and
     * load() takes it from \FFI::scope() (what PHP-FPM with ffi.enable=preload allows).
     */
    public const SCOPE = 'THROTTLEKIT';

    /** @var array<string, \FFI> keyed by the library path asked for */
    private static array $loaded = [];

    /** Where the last load() found the library: "scope THROTTLEKIT", or the path or name given to dlopen. */
    private static ?string $source = null;

    /** Where the library came from ("scope THROTTLEKIT", a path, a soname); null before a load. */
    public static function source(): ?string
    {
        return self::$source;
    }

    /**
     * The preprocessor-free header: option, $THROTTLEKIT_FFI_HEADER, else the one the package
     * ships (throttlekit.ffi.h, generated from include/throttlekit.h and committed).
     */
    public static function headerPath(?string $explicit = null): string
    {
        if ($explicit !== null && $explicit !== '') {
            return $explicit;
        }
        $env = getenv('THROTTLEKIT_FFI_HEADER');
        if (is_string($env) && $env !== '') {
            return $env;
        }
        return dirname(__DIR__) . '/throttlekit.ffi.h';
    }

    /**
     * The FFI instance for libthrottlekit: $lib when given, else $THROTTLEKIT_LIB when set,
     * else the preloaded scope THROTTLEKIT (ffi.preload) when there is one and no header was
     * asked for, else the system search path (libthrottlekit.so.0, then libthrottlekit.so).
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
        $envLib = getenv('THROTTLEKIT_LIB');
        $envHeader = getenv('THROTTLEKIT_FFI_HEADER');
        if (($lib === null || $lib === '') && ($header === null || $header === '')
            && !(is_string($envLib) && $envLib !== '') && !(is_string($envHeader) && $envHeader !== '')) {
            try {
                $ffi = \FFI::scope(self::SCOPE);
                self::$source = 'scope ' . self::SCOPE;
                return self::$loaded[$cacheKey] = $ffi;
            } catch (\FFI\Exception | \Error) {
                // No preloaded scope (or FFI restricted): load the header below, which says why.
            }
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
                if (str_contains($e->getMessage(), 'restricted by "ffi.enable"')) {
                    // ffi.enable=preload outside the CLI: only preloaded code may call the FFI API.
                    throw new LibraryException('PHP FFI is not usable here: ' . $e->getMessage()
                        . ' (with ffi.enable=preload, put this package in opcache.preload, and its throttlekit.preload.h'
                        . ' in ffi.preload; or set ffi.enable=1; see bindings/php/README.md)', 0, $e);
                }
                $tried[] = sprintf('%s (%s): %s', $path, preg_replace('/ #\d+$/', '', $source), $e->getMessage());
                continue;
            } catch (\Error $e) {
                // FFI disabled by ffi.enable (or a preload-only restriction outside CLI/preload).
                throw new LibraryException('PHP FFI is not usable here: ' . $e->getMessage()
                    . ' (set ffi.enable=1, or ffi.enable=preload with this package in opcache.preload; see bindings/php/README.md)', 0, $e);
            }
            self::$source = $path;
            return self::$loaded[$cacheKey] = $ffi;
        }
        throw new LibraryException("cannot load libthrottlekit; looked in:\n  - " . implode("\n  - ", $tried)
            . "\n(install it: the libthrottlekit0 Debian package, or `make install`; or pass the 'lib' option, "
            . 'or set THROTTLEKIT_LIB to e.g. build/lib/libthrottlekit.so)');
    }
}
