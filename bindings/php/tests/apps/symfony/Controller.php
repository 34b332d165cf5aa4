<?php

declare(strict_types=1);

namespace ThrottleKit\TestApp\Symfony;

use Symfony\Component\HttpFoundation\JsonResponse;
use Symfony\Component\HttpFoundation\Request;
use Symfony\Component\HttpFoundation\Response;
use Symfony\Component\RateLimiter\Exception\MaxWaitDurationExceededException;
use Symfony\Component\RateLimiter\LimiterInterface;
use Symfony\Component\RateLimiter\RateLimit;
use ThrottleKit\Http\Headers;
use ThrottleKit\Symfony\LimiterFactory;

/** Uses the limiters only through Symfony's LimiterInterface (plus the Decision for the headers). */
final class Controller
{
    public function __construct(private LimiterFactory $api, private LimiterFactory $fast, private LimiterFactory $shadow)
    {
    }

    public function limited(Request $request, string $style): Response
    {
        $limit = $this->api->create($style . ':' . $request->getClientIp())->consume();
        $response = $limit->isAccepted() ? new Response('ok ' . getmypid() . "\n") : new Response("Too Many Requests\n", 429);
        $response->headers->add(Headers::forDecision('api', $limit->decision, $style));
        return $response;
    }

    public function shadow(Request $request): Response
    {
        return new Response($this->shadow->create((string) $request->getClientIp())->consume()->isAccepted() ? "ok\n" : "no\n");
    }

    private function limiter(Request $request): LimiterInterface
    {
        return $this->fast->create((string) $request->query->get('key', 'k'));
    }

    private static function describe(RateLimit $l, int $status = 200, array $more = []): JsonResponse
    {
        return new JsonResponse(['accepted' => $l->isAccepted(), 'remaining' => $l->getRemainingTokens(), 'limit' => $l->getLimit(),
            'retryAfter' => (float) $l->getRetryAfter()->format('U.u'), 'class' => get_class($l), 'now' => microtime(true)] + $more, $status);
    }

    public function consume(Request $request): Response
    {
        $l = $this->limiter($request)->consume((int) $request->query->get('n', '1'));
        return self::describe($l, $l->isAccepted() ? 200 : 429);
    }

    public function reserve(Request $request): Response
    {
        $max = $request->query->get('max');
        $start = microtime(true);
        try {
            $r = $this->limiter($request)->reserve((int) $request->query->get('n', '1'), $max === null ? null : (float) $max);
        } catch (MaxWaitDurationExceededException $e) {
            return self::describe($e->getRateLimit(), 429, ['exceeded' => true]);
        } catch (\InvalidArgumentException $e) {
            return new JsonResponse(['invalid' => $e->getMessage()], 400);
        }
        return self::describe($r->getRateLimit(), 200, ['waitDuration' => $r->getWaitDuration(),
            'tookS' => microtime(true) - $start]);
    }

    public function reset(Request $request): Response
    {
        $this->limiter($request)->reset();
        return new Response('', 204);
    }
}
