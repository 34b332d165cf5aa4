<?php

declare(strict_types=1);

namespace ThrottleKit\Tests;

/**
 * A throttlekit-server process for a test: a temporary policy file, `--host 127.0.0.1
 * --port 0 --ready-file F`, the address read from F once the server has written it (its
 * stderr kept in stderr.log, shown when it does not start), SIGTERM to stop.
 */
final class Server
{
    /** @var resource */
    private $proc;
    private string $dir;
    public readonly string $addr;

    /** @param list<string> $extraArgs */
    public function __construct(string $binary, string $policies, array $extraArgs = [], array $files = [])
    {
        $this->dir = sys_get_temp_dir() . '/tkphp-server-' . bin2hex(random_bytes(6));
        mkdir($this->dir, 0700);
        file_put_contents("$this->dir/policies.yaml", $policies);
        foreach ($files as $name => $content) {
            file_put_contents("$this->dir/$name", $content);
            $extraArgs = array_map(fn ($a) => str_replace("{{$name}}", "$this->dir/$name", $a), $extraArgs);
        }
        $ready = "$this->dir/server.ready";
        $cmd = array_merge([$binary, '-c', "$this->dir/policies.yaml", '--host', '127.0.0.1', '--port', '0',
            '--ready-file', $ready], $extraArgs);
        $proc = proc_open($cmd, [0 => ['file', '/dev/null', 'r'], 1 => ['file', "$this->dir/stdout.log", 'w'],
            2 => ['file', "$this->dir/stderr.log", 'w']], $pipes);
        if (!is_resource($proc)) {
            throw new \RuntimeException('cannot start ' . $binary);
        }
        $this->proc = $proc;
        $deadline = microtime(true) + 30;
        $why = "wrote no ready file $ready within 30 s";
        while (microtime(true) < $deadline) {
            $content = @file_get_contents($ready); // written atomically: absent, or whole
            if ($content !== false) {
                if (preg_match('/\A(127\.0\.0\.1:\d+)\n/', $content, $m)) {
                    $this->addr = $m[1];
                    return;
                }
                $why = "wrote a ready file $ready that does not start with 127.0.0.1:<port>: " . json_encode($content);
                break;
            }
            if (!proc_get_status($proc)['running']) {
                $why = "exited before writing its ready file $ready";
                break;
            }
            usleep(20000);
        }
        $log = (string) @file_get_contents("$this->dir/stderr.log");
        $this->stop();
        throw new \RuntimeException("throttlekit-server $why; its log ($this->dir/stderr.log):\n$log");
    }

    /** SIGTERM, then the exit status (-1 when it had to be killed). */
    public function stop(): int
    {
        if (!isset($this->proc)) {
            return -1;
        }
        $status = -1;
        $st = proc_get_status($this->proc);
        if ($st['running']) {
            proc_terminate($this->proc, 15);
            $deadline = microtime(true) + 20;
            while (microtime(true) < $deadline) {
                $st = proc_get_status($this->proc);
                if (!$st['running']) {
                    $status = $st['exitcode'];
                    break;
                }
                usleep(20000);
            }
            if ($st['running']) {
                proc_terminate($this->proc, 9);
            }
        } else {
            $status = $st['exitcode'];
        }
        proc_close($this->proc);
        unset($this->proc);
        foreach (glob("$this->dir/*") ?: [] as $f) {
            unlink($f);
        }
        @rmdir($this->dir);
        return $status;
    }

    public function __destruct()
    {
        $this->stop();
    }
}
