<?php

return [
    'paths' => [],
    'compiled' => getenv('TK_APP_TMP') . '/laravel-storage/framework/views',
];
