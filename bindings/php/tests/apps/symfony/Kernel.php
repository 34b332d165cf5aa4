<?php

declare(strict_types=1);

namespace ThrottleKit\TestApp\Symfony;

use Symfony\Bundle\FrameworkBundle\FrameworkBundle;
use Symfony\Bundle\FrameworkBundle\Kernel\MicroKernelTrait;
use Symfony\Component\DependencyInjection\Loader\Configurator\ContainerConfigurator;
use Symfony\Component\HttpKernel\Kernel as BaseKernel;
use Symfony\Component\Routing\Loader\Configurator\RoutingConfigurator;

/** A Symfony 5.4 app (FrameworkBundle, MicroKernelTrait) whose limiters are ThrottleKit's (config/services.yaml). */
final class Kernel extends BaseKernel
{
    use MicroKernelTrait;

    public function registerBundles(): iterable
    {
        return [new FrameworkBundle()];
    }

    public function getProjectDir(): string
    {
        return __DIR__;
    }

    public function getCacheDir(): string
    {
        return getenv('TK_APP_TMP') . '/symfony/cache';
    }

    public function getLogDir(): string
    {
        return getenv('TK_APP_TMP') . '/symfony/log';
    }

    private function configureContainer(ContainerConfigurator $c): void
    {
        $c->extension('framework', ['secret' => 'throttlekit-test', 'http_method_override' => false,
            'router' => ['utf8' => true], 'php_errors' => ['log' => false]]);
        $c->import(__DIR__ . '/config/services.yaml');
    }

    private function configureRoutes(RoutingConfigurator $routes): void
    {
        $routes->add('limited', '/{style}/api')->controller([Controller::class, 'limited'])
            ->requirements(['style' => 'ietf|triple|legacy|all|off']);
        $routes->add('shadow', '/shadow')->controller([Controller::class, 'shadow']);
        $routes->add('fast_consume', '/fast/consume')->controller([Controller::class, 'consume']);
        $routes->add('fast_reserve', '/fast/reserve')->controller([Controller::class, 'reserve']);
        $routes->add('fast_reset', '/fast/reset')->controller([Controller::class, 'reset']);
    }
}
