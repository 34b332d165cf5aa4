<?php

declare(strict_types=1);

namespace ThrottleKit\Tests;

/**
 * A test app served for real: `php -S` (HTTP, one process) or php-fpm (FastCGI, several
 * forked workers, spoken to directly with the small FastCGI client below). The app's
 * environment comes from $env (THROTTLEKIT_* for the app's client, TK_APP_* for the app).
 */
final class HttpApp
{
    /** @var resource */
    private $proc;
    private string $dir;
    private string $mode;
    private string $host = '127.0.0.1';
    private int $port = 0;
    private string $socket = '';
    private string $script = '';

    private function __construct()
    {
        $this->dir = sys_get_temp_dir() . '/tkphp-app-' . bin2hex(random_bytes(6));
        mkdir($this->dir, 0700);
    }

    /** A scratch directory that lives as long as the app. */
    public function dir(): string
    {
        return $this->dir;
    }

    /**
     * php -S 127.0.0.1:<free port> $router, with FFI enabled; $workers > 1 forks that many
     * workers (PHP_CLI_SERVER_WORKERS).
     *
     * @param array<string, string> $env
     */
    public static function cliServer(string $router, array $env, int $workers = 1): self
    {
        $app = new self();
        $app->mode = 'http';
        $probe = stream_socket_server('tcp://127.0.0.1:0');
        $app->port = (int) substr((string) strrchr((string) stream_socket_get_name($probe, false), ':'), 1);
        fclose($probe);
        $cmd = array_merge(TestEnv::phpCommand(), ['-S', "127.0.0.1:$app->port", '-t', dirname($router), $router]);
        $env += ['TK_APP_TMP' => $app->dir] + ($workers > 1 ? ['PHP_CLI_SERVER_WORKERS' => (string) $workers] : []);
        $app->start($cmd, $env);
        $app->waitFor(fn (): bool => ($s = @stream_socket_client("tcp://127.0.0.1:$app->port", $e, $m, 0.2)) !== false && fclose($s));
        return $app;
    }

    /**
     * php-fpm in the foreground with $workers static workers on a Unix socket, running
     * $script for every request. The production setting: ffi.enable=preload and
     * opcache.preload=bindings/php/preload.php (the FFI calls are preloaded code; the
     * master loads no library), unless $preload is false (then ffi.enable=1).
     *
     * @param array<string, string> $env
     */
    public static function fpm(string $fpm, string $script, array $env, int $workers = 3, bool $preload = true): self
    {
        $app = new self();
        $app->mode = 'fcgi';
        $app->socket = "$app->dir/fpm.sock";
        $app->script = $script;
        $env += ['TK_APP_TMP' => $app->dir];
        $lines = ['[global]', "error_log = $app->dir/fpm.log", 'daemonize = no', '[app]',
            "listen = $app->socket", 'pm = static', "pm.max_children = $workers", 'clear_env = yes',
            'catch_workers_output = yes', 'php_admin_value[display_errors] = stderr', 'php_admin_flag[log_errors] = on'];
        foreach ($env as $k => $v) {
            $lines[] = "env[$k] = " . $v;
        }
        file_put_contents("$app->dir/fpm.conf", implode("\n", $lines) . "\n");
        $ini = $preload
            ? ['-d', 'ffi.enable=preload', '-d', 'opcache.enable=1', '-d', 'opcache.preload=' . dirname(__DIR__, 2) . '/preload.php']
            : ['-d', 'ffi.enable=1'];
        if ($preload && posix_getuid() === 0) {
            $ini = array_merge($ini, ['-d', 'opcache.preload_user=root']);
        }
        $cmd = array_merge([$fpm, '-F', '-R', '-y', "$app->dir/fpm.conf"], $ini);
        $app->start($cmd, $env);
        $app->waitFor(fn (): bool => file_exists($app->socket));
        return $app;
    }

    /** @param list<string> $cmd @param array<string, string> $env */
    private function start(array $cmd, array $env): void
    {
        $proc = proc_open($cmd, [0 => ['file', '/dev/null', 'r'], 1 => ['file', "$this->dir/stdout.log", 'w'],
            2 => ['file', "$this->dir/stderr.log", 'w']], $pipes, null, $env + getenv());
        if (!is_resource($proc)) {
            throw new \RuntimeException('cannot start ' . implode(' ', $cmd));
        }
        $this->proc = $proc;
    }

    private function waitFor(callable $ready): void
    {
        $deadline = microtime(true) + 20;
        while (microtime(true) < $deadline) {
            if ($ready()) {
                return;
            }
            if (!proc_get_status($this->proc)['running']) {
                break;
            }
            usleep(20000);
        }
        $log = $this->log();
        $this->stop();
        throw new \RuntimeException("the app server did not start; its log:\n$log");
    }

    /** What the server wrote (its stderr, and php-fpm's log). */
    public function log(): string
    {
        return (string) @file_get_contents("$this->dir/stderr.log") . (string) @file_get_contents("$this->dir/fpm.log");
    }

    /**
     * One request; returns [status, headers (lower-case name => value), body].
     *
     * @param array<string, string> $headers
     * @return array{0: int, 1: array<string, string>, 2: string}
     */
    public function request(string $method, string $path, array $headers = []): array
    {
        return $this->requests([[$method, $path, $headers]])[0];
    }

    /**
     * Several requests sent at once, each on its own connection (so php-fpm hands them to
     * different workers), answered in order.
     *
     * @param list<array{0: string, 1: string, 2?: array<string, string>}> $requests
     * @return list<array{0: int, 1: array<string, string>, 2: string}>
     */
    public function requests(array $requests): array
    {
        $conns = [];
        foreach ($requests as $r) {
            [$method, $path] = $r;
            $headers = $r[2] ?? [];
            $conn = $this->mode === 'http'
                ? stream_socket_client("tcp://$this->host:$this->port", $errno, $err, 5)
                : stream_socket_client("unix://$this->socket", $errno, $err, 5);
            if ($conn === false) {
                throw new \RuntimeException("cannot connect to the app: $err\n" . $this->log());
            }
            stream_set_timeout($conn, 20);
            fwrite($conn, $this->mode === 'http' ? self::httpRequest($method, $path, $headers)
                : $this->fcgiRequest($method, $path, $headers));
            $conns[] = $conn;
        }
        $out = [];
        foreach ($conns as $conn) {
            $raw = stream_get_contents($conn);
            fclose($conn);
            $out[] = $this->mode === 'http' ? self::parseHttp((string) $raw) : self::parseFcgi((string) $raw);
        }
        return $out;
    }

    /** @param array<string, string> $headers */
    private static function httpRequest(string $method, string $path, array $headers): string
    {
        $text = "$method $path HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
        foreach ($headers as $k => $v) {
            $text .= "$k: $v\r\n";
        }
        return $text . "\r\n";
    }

    /** @return array{0: int, 1: array<string, string>, 2: string} */
    private static function parseHttp(string $raw): array
    {
        [$head, $body] = explode("\r\n\r\n", $raw, 2) + [1 => ''];
        $lines = explode("\r\n", $head);
        if (!preg_match('#^HTTP/\d\.\d (\d{3})#', array_shift($lines), $m)) {
            throw new \RuntimeException('not an HTTP response: ' . substr($raw, 0, 200));
        }
        return [(int) $m[1], self::headerLines($lines), $body];
    }

    /** @param list<string> $lines @return array<string, string> */
    private static function headerLines(array $lines): array
    {
        $h = [];
        foreach ($lines as $line) {
            if (str_contains($line, ':')) {
                [$k, $v] = explode(':', $line, 2);
                $h[strtolower(trim($k))] = trim($v);
            }
        }
        return $h;
    }

    /* ---- FastCGI (the responder role, one request per connection) ---- */

    private static function record(int $type, string $content): string
    {
        return pack('CCnnCx', 1, $type, 1, strlen($content), 0) . $content;
    }

    private static function pair(string $name, string $value): string
    {
        $len = static fn (string $s): string => strlen($s) < 128 ? chr(strlen($s)) : pack('N', strlen($s) | 0x80000000);
        return $len($name) . $len($value) . $name . $value;
    }

    /** @param array<string, string> $headers */
    private function fcgiRequest(string $method, string $path, array $headers): string
    {
        [$uriPath, $query] = explode('?', $path, 2) + [1 => ''];
        $params = ['GATEWAY_INTERFACE' => 'CGI/1.1', 'SERVER_SOFTWARE' => 'throttlekit-test', 'SERVER_PROTOCOL' => 'HTTP/1.1',
            'REQUEST_METHOD' => $method, 'REQUEST_URI' => $path, 'QUERY_STRING' => $query, 'PATH_INFO' => '',
            'SCRIPT_FILENAME' => $this->script, 'SCRIPT_NAME' => '/index.php', 'DOCUMENT_ROOT' => dirname($this->script),
            'DOCUMENT_URI' => $uriPath, 'SERVER_NAME' => '127.0.0.1', 'SERVER_ADDR' => '127.0.0.1', 'SERVER_PORT' => '80',
            'REMOTE_ADDR' => '127.0.0.1', 'REMOTE_PORT' => '40000', 'CONTENT_LENGTH' => '0', 'HTTP_HOST' => '127.0.0.1'];
        foreach ($headers as $k => $v) {
            $params['HTTP_' . strtoupper(str_replace('-', '_', $k))] = $v;
        }
        $body = '';
        foreach ($params as $k => $v) {
            $body .= self::pair($k, $v);
        }
        return self::record(1, pack('nCx5', 1, 0)) . self::record(4, $body) . self::record(4, '') . self::record(5, '');
    }

    /** @return array{0: int, 1: array<string, string>, 2: string} */
    private static function parseFcgi(string $raw): array
    {
        $stdout = '';
        $stderr = '';
        for ($i = 0; $i + 8 <= strlen($raw);) {
            $h = unpack('Cversion/Ctype/nid/nlen/Cpad', substr($raw, $i, 7));
            $content = substr($raw, $i + 8, $h['len']);
            $i += 8 + $h['len'] + $h['pad'];
            if ($h['type'] === 6) {
                $stdout .= $content;
            } elseif ($h['type'] === 7) {
                $stderr .= $content;
            }
        }
        [$head, $body] = explode("\r\n\r\n", $stdout, 2) + [1 => ''];
        $headers = self::headerLines(explode("\r\n", $head));
        $status = isset($headers['status']) ? (int) $headers['status'] : 200;
        unset($headers['status']);
        if ($stderr !== '') {
            $headers['x-fcgi-stderr'] = $stderr;
        }
        return [$status, $headers, $body];
    }

    public function stop(): void
    {
        if (isset($this->proc)) {
            $st = proc_get_status($this->proc);
            if ($st['running']) {
                // php -S and php-fpm -F: SIGTERM ends the server and its workers (they are its children)
                proc_terminate($this->proc, 15);
                $deadline = microtime(true) + 10;
                while (proc_get_status($this->proc)['running'] && microtime(true) < $deadline) {
                    usleep(20000);
                }
                if (proc_get_status($this->proc)['running']) {
                    proc_terminate($this->proc, 9);
                }
            }
            proc_close($this->proc);
            unset($this->proc);
        }
        exec('rm -rf ' . escapeshellarg($this->dir));
    }

    public function __destruct()
    {
        $this->stop();
    }
}
