#!/bin/sh
# The RPM packages' %post and %postun of libthrottlekit0: the dynamic linker's cache.
ldconfig
