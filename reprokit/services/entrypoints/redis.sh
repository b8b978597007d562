#!/bin/sh
# reprokit's stand-in for the official redis image's docker-entrypoint.sh (docker-library/redis), in POSIX
# sh for Debian's redis-server. The official image is compiled with protected mode off; Debian's binary is
# not, so the defaults file below turns it off, before the user's config file and flags (which still win).
# The server runs as redis in /data, `exec`ed (its parent is the container's init).
set -eu

DEFAULTS=/etc/reprokit/redis-defaults.conf

# A command that starts with a flag or a .conf file is the server's arguments.
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
	set -- redis-server "$@"
fi

if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
	find . \! -user redis -exec chown redis '{}' +
	export HOME=/data
	exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi

if [ "$1" = redis-server ]; then
	shift
	if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
		# The user's config file: include it after the defaults, so its settings win.
		_config=$(mktemp)
		printf 'include %s\ninclude %s\n' "$DEFAULTS" "$1" > "$_config"
		shift
		set -- redis-server "$_config" "$@"
	else
		set -- redis-server "$DEFAULTS" "$@"
	fi
fi

exec "$@"
