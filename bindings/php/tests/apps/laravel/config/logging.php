<?php

return [
    'default' => 'single',
    'channels' => [
        'single' => ['driver' => 'single', 'path' => getenv('TK_APP_TMP') . '/laravel.log', 'level' => 'debug'],
    ],
];
