#!/bin/sh
# reprokit's stand-in for the official mariadb image's docker-entrypoint.sh (MariaDB/mariadb-docker), in
# POSIX sh for Debian's mariadb-server. Same variables (MARIADB_* and their MYSQL_* names), same first
# start: mariadb-install-db, time zone tables, root@localhost and root@MARIADB_ROOT_HOST, MARIADB_DATABASE,
# MARIADB_USER, /docker-entrypoint-initdb.d/*.sql|*.sql.gz|*.sh once, then `exec` the server (its parent
# is the container's init). Not implemented (reprokit refuses a service that sets them): *_PASSWORD_HASH,
# replication, healthcheck users, backups as seeds, upgrades of an older data directory.
set -eu

note() { printf '%s [Note] [Entrypoint]: %s\n' "$(date --rfc-3339=seconds)" "$*"; }
die() { printf '%s [ERROR] [Entrypoint]: %s\n' "$(date --rfc-3339=seconds)" "$*" >&2; exit 1; }

# file_env VAR [DEFAULT]: VAR from itself, else from the file named by VAR_FILE (Docker secrets), else DEFAULT.
file_env() {
	eval "_value=\${$1:-} _file=\${$1_FILE:-}"
	if [ -n "$_value" ] && [ -n "$_file" ]; then
		die "Both $1 and $1_FILE are set (but are exclusive)"
	fi
	if [ -z "$_value" ]; then
		if [ -n "$_file" ]; then _value=$(cat "$_file"); else _value=${2:-}; fi
	fi
	export "$1=$_value"
	unset "$1_FILE"
}

# mariadb_file_env MYSQL_X [DEFAULT]: MARIADB_X wins over MYSQL_X; both end up with the same value.
mariadb_file_env() {
	_maria="MARIADB_${1#MYSQL_}" _mysql_value='' _maria_value=''
	file_env "$1" "${2:-}"
	eval "_mysql_value=\$$1"
	file_env "$_maria" "$_mysql_value"
	eval "_maria_value=\$$_maria"
	if [ -n "$_maria_value" ]; then export "$1=$_maria_value"; fi
}

want_help() {
	for _arg; do
		case "$_arg" in -'?'|--help|--print-defaults|-V|--version) return 0 ;; esac
	done
	return 1
}

# A value from the server's configuration as the command line would see it (config files + flags).
server_config() {
	_name=$1; shift
	"$@" --verbose --help 2>/dev/null \
		| awk -v conf="$_name" '$1 == conf && /^[^ \t]/ { sub(/^[^ \t]+[ \t]+/, ""); print; exit }'
}

setup_env() {
	DATADIR=$(server_config datadir "$@")
	SOCKET=$(server_config socket "$@")
	mariadb_file_env MYSQL_ROOT_HOST '%'
	mariadb_file_env MYSQL_DATABASE
	mariadb_file_env MYSQL_USER
	mariadb_file_env MYSQL_PASSWORD
	mariadb_file_env MYSQL_ROOT_PASSWORD
	: "${MARIADB_ALLOW_EMPTY_ROOT_PASSWORD:=${MYSQL_ALLOW_EMPTY_PASSWORD:-}}"
	: "${MARIADB_RANDOM_ROOT_PASSWORD:=${MYSQL_RANDOM_ROOT_PASSWORD:-}}"
	: "${MARIADB_INITDB_SKIP_TZINFO:=${MYSQL_INITDB_SKIP_TZINFO:-}}"
	export MARIADB_ALLOW_EMPTY_ROOT_PASSWORD MARIADB_RANDOM_ROOT_PASSWORD MARIADB_INITDB_SKIP_TZINFO
	export MYSQL_ALLOW_EMPTY_PASSWORD="$MARIADB_ALLOW_EMPTY_ROOT_PASSWORD"
	export MYSQL_RANDOM_ROOT_PASSWORD="$MARIADB_RANDOM_ROOT_PASSWORD"
	export MYSQL_INITDB_SKIP_TZINFO="$MARIADB_INITDB_SKIP_TZINFO"
}

# SQL for a string literal: backslash and quote escaped.
sql_escape() {
	printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e "s/'/\\\\'/g"
}

# process_sql [--no-root-password] [client args]: run SQL from stdin as root over the socket.
process_sql() {
	_password=$MARIADB_ROOT_PASSWORD
	if [ "${1:-}" = --no-root-password ]; then _password=; shift; fi
	if [ -n "$MARIADB_DATABASE" ]; then set -- --database="$MARIADB_DATABASE" "$@"; fi
	MYSQL_PWD=$_password mariadb --protocol=socket -uroot -hlocalhost --socket="$SOCKET" "$@"
}

temp_server_start() {
	"$@" --skip-networking --default-time-zone=SYSTEM --socket="$SOCKET" --wsrep_on=OFF \
		--expire-logs-days=0 --loose-innodb_buffer_pool_load_at_startup=0 &
	SERVER_PID=$!
	note "Waiting for server startup"
	_tries=300
	until echo 'SELECT 1' | process_sql --no-root-password --database=mysql >/dev/null 2>&1; do
		_tries=$((_tries - 1))
		[ "$_tries" -gt 0 ] || die "Unable to start server."
		kill -0 "$SERVER_PID" 2>/dev/null || die "The temporary server exited; see its log above."
		sleep 0.1
	done
}

init_database() {
	if [ -z "$MARIADB_ROOT_PASSWORD" ] && [ -z "$MARIADB_ALLOW_EMPTY_ROOT_PASSWORD" ] \
		&& [ -z "$MARIADB_RANDOM_ROOT_PASSWORD" ]; then
		die "Database is uninitialized and password option is not specified
	You need to specify one of MARIADB_ROOT_PASSWORD, MARIADB_ROOT_PASSWORD_HASH, MARIADB_ALLOW_EMPTY_ROOT_PASSWORD and MARIADB_RANDOM_ROOT_PASSWORD"
	fi

	note "Initializing database files"
	shift  # mariadbd: the remaining arguments are the server's, which mariadb-install-db passes on
	mariadb-install-db --datadir="$DATADIR" --rpm --auth-root-authentication-method=normal "$@" \
		--skip-test-db --default-time-zone=SYSTEM --enforce-storage-engine= --skip-log-bin \
		--expire-logs-days=0 --loose-innodb_buffer_pool_load_at_startup=0 \
		--loose-innodb_buffer_pool_dump_at_shutdown=0
	note "Database files initialized"

	note "Starting temporary server"
	temp_server_start mariadbd "$@"
	note "Temporary server started."

	if [ -z "$MARIADB_INITDB_SKIP_TZINFO" ]; then
		mariadb-tzinfo-to-sql --skip-write-binlog /usr/share/zoneinfo \
			| process_sql --no-root-password --database=mysql
	fi
	if [ -n "$MARIADB_RANDOM_ROOT_PASSWORD" ]; then
		MARIADB_ROOT_PASSWORD=$(tr -dc 'A-Za-z0-9,.;:!@%^&*()_+-' </dev/urandom | head -c 32)
		export MARIADB_ROOT_PASSWORD MYSQL_ROOT_PASSWORD="$MARIADB_ROOT_PASSWORD"
		note "GENERATED ROOT PASSWORD: $MARIADB_ROOT_PASSWORD"
	fi
	_root_password=$(sql_escape "$MARIADB_ROOT_PASSWORD")
	_root_create=
	if [ -n "$MARIADB_ROOT_HOST" ] && [ "$MARIADB_ROOT_HOST" != localhost ]; then
		_root_create="CREATE USER 'root'@'$MARIADB_ROOT_HOST' IDENTIFIED BY '$_root_password' ;
GRANT ALL ON *.* TO 'root'@'$MARIADB_ROOT_HOST' WITH GRANT OPTION ;
GRANT PROXY ON ''@'%' TO 'root'@'$MARIADB_ROOT_HOST' WITH GRANT OPTION;"
	fi
	_create_database=
	if [ -n "$MARIADB_DATABASE" ]; then
		note "Creating database $MARIADB_DATABASE"
		_create_database="CREATE DATABASE IF NOT EXISTS \`$MARIADB_DATABASE\`;"
	fi
	_create_user=
	if [ -n "$MARIADB_USER" ] && [ -n "$MARIADB_PASSWORD" ]; then
		note "Creating user $MARIADB_USER"
		_create_user="CREATE USER '$MARIADB_USER'@'%' IDENTIFIED BY '$(sql_escape "$MARIADB_PASSWORD")';"
		if [ -n "$MARIADB_DATABASE" ]; then
			note "Giving user $MARIADB_USER access to schema $MARIADB_DATABASE"
			# "_" is a wildcard in a GRANT's database name
			_create_user="$_create_user
GRANT ALL ON \`$(printf '%s' "$MARIADB_DATABASE" | sed 's/_/\\_/g')\`.* TO '$MARIADB_USER'@'%';"
		fi
	fi

	note "Securing system users (equivalent to running mysql_secure_installation)"
	# The database may not exist yet: no --database for this one.
	_database=$MARIADB_DATABASE
	MARIADB_DATABASE=
	process_sql --no-root-password --database=mysql --binary-mode <<-EOSQL
		SET @orig_sql_log_bin= @@SESSION.SQL_LOG_BIN;
		SET @@SESSION.SQL_LOG_BIN=0;
		SET @@SESSION.SQL_MODE=REPLACE(@@SESSION.SQL_MODE, 'NO_BACKSLASH_ESCAPES', '');
		DROP USER IF EXISTS root@'127.0.0.1', root@'::1';
		EXECUTE IMMEDIATE CONCAT('DROP USER IF EXISTS root@\'', @@hostname,'\'');
		SET PASSWORD FOR 'root'@'localhost'= PASSWORD('${_root_password}');
		${_root_create}
		SET @@SESSION.SQL_LOG_BIN=@orig_sql_log_bin;
		${_create_database}
		${_create_user}
	EOSQL
	MARIADB_DATABASE=$_database

	echo
	for _f in /docker-entrypoint-initdb.d/*; do
		case "$_f" in
			*.sh)
				if [ -x "$_f" ]; then note "$0: running $_f"; "$_f"
				else
					note "$0: sourcing $_f"
					# shellcheck source=/dev/null
					. "$_f"
				fi ;;
			*.sql) note "$0: running $_f"; process_sql < "$_f"; echo ;;
			*.sql.gz) note "$0: running $_f"; gunzip -c "$_f" | process_sql; echo ;;
			*/\*) ;;  # the directory is empty
			*) note "$0: ignoring $_f" ;;
		esac
	done

	note "Stopping temporary server"
	kill "$SERVER_PID"
	wait "$SERVER_PID"
	note "Temporary server stopped"
	echo
	note "MariaDB init process done. Ready for start up."
	echo
}

# A command that starts with a flag is the server's flags.
if [ "${1#-}" != "$1" ]; then
	set -- mariadbd "$@"
fi

if { [ "$1" = mariadbd ] || [ "$1" = mysqld ]; } && ! want_help "$@"; then
	if [ -n "${REPROKIT_LOOSE_OPTIONS:-}" ]; then
		# Standing in for mysql: an option MariaDB does not know warns instead of stopping the server.
		_server=$1; shift
		for _arg; do
			shift
			case "$_arg" in
				--loose-*|--skip-*|--enable-*|--disable-*|--maximum-*) ;;
				--*) _arg="--loose-${_arg#--}" ;;
			esac
			set -- "$@" "$_arg"
		done
		set -- "$_server" "$@"
		unset REPROKIT_LOOSE_OPTIONS
	fi
	note "Entrypoint script for MariaDB Server $(mariadbd --version | awk '{print $3}') started."
	setup_env "$@"
	if [ "$(id -u)" = 0 ]; then
		# Started as root (the default): own the directories, then run this script again as mysql.
		mkdir -p "$DATADIR"
		find "$DATADIR" \! -user mysql -exec chown mysql: '{}' +
		find "${SOCKET%/*}" -maxdepth 0 \! -user mysql -exec chown mysql: '{}' \;
		note "Switching to dedicated user 'mysql'"
		export HOME=/var/lib/mysql
		exec setpriv --reuid=mysql --regid=mysql --init-groups "$0" "$@"
	fi
	if [ ! -d "$DATADIR/mysql" ]; then
		init_database "$@"
	fi
fi

exec "$@"
