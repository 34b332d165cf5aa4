<?php

return [
    'name' => 'throttlekit-test',
    'env' => 'production',
    'debug' => false,
    'url' => 'http://127.0.0.1',
    'timezone' => 'UTC',
    'locale' => 'en',
    'key' => 'base64:' . base64_encode(str_repeat('k', 32)),
    'cipher' => 'AES-256-CBC',
    'providers' => [
        Illuminate\Filesystem\FilesystemServiceProvider::class,
        Illuminate\View\ViewServiceProvider::class,
        Illuminate\Translation\TranslationServiceProvider::class,
        ThrottleKit\Laravel\ThrottleKitServiceProvider::class,
        ThrottleKit\TestApp\Laravel\RouteServiceProvider::class,
    ],
    'aliases' => [],
];
