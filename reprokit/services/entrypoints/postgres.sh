#!/bin/sh
# reprokit's stand-in for the official postgres image's docker-entrypoint.sh (docker-library/postgres),
# in POSIX sh for Debian's postgresql-NN packages. Same variables, same first start: initdb, pg_hba for
# other hosts, POSTGRES_DB, /docker-entrypoint-initdb.d/*.sql|*.sql.gz|*.sh once, then `exec` the server
# (its parent is the container's init). Not supported: nss_wrapper for arbitrary --user ids, *.sql.xz and
# *.sql.zst seeds. Non-executable *.sh seeds are sourced by this sh, not bash (as the official one does).
set -eu

note() { printf '%s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# file_env VAR [DEFAULT]: VAR from itself, else from the file named by VAR_FILE (Docker secrets), else DEFAULT.
file_env() {
	eval "_value=\${$1:-} _file=\${$1_FILE:-}"
	if [ -n "$_value" ] && [ -n "$_file" ]; then
		die "both $1 and $1_FILE are set (but are exclusive)"
	fi
	if [ -z "$_value" ]; then
		if [ -n "$_file" ]; then _value=$(cat "$_file"); else _value=${2:-}; fi
	fi
	export "$1=$_value"
	unset "$1_FILE"
}

# The server's arguments (all but the leading "postgres"), each single-quoted for pg_ctl -o, which hands
# the string to a shell.
quoted_server_args() {
	shift
	for _arg; do
		printf "'%s' " "$(printf '%s' "$_arg" | sed "s/'/'\\\\''/g")"
	done
}

# The cluster `initdb --username=postgres` made at image build, with a spare superuser reprokit_init so the
# bootstrap superuser can be renamed to POSTGRES_USER. Copying it takes a tenth of initdb's time; it is used
# only when initdb here would read nothing different: no initdb arguments or WAL directory, the image's
# LANG and no other locale or TZ variable.
TEMPLATE=/var/lib/reprokit/postgres-template

template_fits() {
	[ -f "$TEMPLATE/PG_VERSION" ] && [ -z "$POSTGRES_INITDB_ARGS" ] && [ -z "${POSTGRES_INITDB_WALDIR:-}" ] \
		&& [ "LANG=${LANG:-}" = "$(cat "$TEMPLATE.env")" ] && [ -z "${TZ:-}${PGTZ:-}${LC_ALL:-}" ] \
		&& [ -z "${LC_COLLATE:-}${LC_CTYPE:-}${LC_MESSAGES:-}${LC_MONETARY:-}${LC_NUMERIC:-}${LC_TIME:-}" ]
}

run_psql() {
	PGHOST='' PGHOSTADDR='' psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc "$@"
}

init_database() {
	file_env POSTGRES_PASSWORD
	file_env POSTGRES_USER postgres
	file_env POSTGRES_DB "$POSTGRES_USER"
	file_env POSTGRES_INITDB_ARGS
	: "${POSTGRES_HOST_AUTH_METHOD:=}"

	if [ -z "$POSTGRES_PASSWORD" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
		cat >&2 <<-'EOE'
			Error: Database is uninitialized and superuser password is not specified.
			       You must specify POSTGRES_PASSWORD to a non-empty value for the
			       superuser. For example, "-e POSTGRES_PASSWORD=password" on "docker run".

			       You may also use "POSTGRES_HOST_AUTH_METHOD=trust" to allow all
			       connections without a password. This is *not* recommended.
		EOE
		exit 1
	fi
	if [ "$POSTGRES_HOST_AUTH_METHOD" = trust ]; then
		note 'WARNING: POSTGRES_HOST_AUTH_METHOD has been set to "trust": no password is needed to connect.' >&2
	fi

	_from_template=
	if template_fits; then
		note "initialising $PGDATA from the cluster initdb made at image build ($TEMPLATE)"
		cp -a "$TEMPLATE/." "$PGDATA/"
		_from_template=1
	else
		_waldir=
		if [ -n "${POSTGRES_INITDB_WALDIR:-}" ]; then _waldir="--waldir=$POSTGRES_INITDB_WALDIR"; fi
		_pwfile=
		if [ -n "$POSTGRES_PASSWORD" ]; then
			_pwfile=$(mktemp)
			printf '%s\n' "$POSTGRES_PASSWORD" > "$_pwfile"
		fi
		# eval, as the official image does, so POSTGRES_INITDB_ARGS may carry quoted words
		eval 'initdb --username="$POSTGRES_USER" ${_pwfile:+--pwfile="$_pwfile"} ${_waldir:+"$_waldir"} '"$POSTGRES_INITDB_ARGS"
		[ -z "$_pwfile" ] || rm -f "$_pwfile"
	fi

	# Other hosts: password auth with the server's default password_encryption (md5 on 13,
	# scram-sha-256 from 14), or the method the user asked for.
	_auth=$POSTGRES_HOST_AUTH_METHOD
	if [ -z "$_auth" ]; then
		_auth=$(eval "postgres -C password_encryption $(quoted_server_args "$@")")
	fi
	printf '\nhost all all all %s\n' "$_auth" >> "$PGDATA/pg_hba.conf"

	# A temporary server on the socket only (these flags come last, so they win over the command's), so
	# nothing outside sees it, pg_isready included, before the set-up is done.
	_options="$(quoted_server_args "$@") -c listen_addresses='' -p ${PGPORT:-5432}"
	PGUSER="${PGUSER:-$POSTGRES_USER}" pg_ctl -D "$PGDATA" -o "$_options" -w start

	if [ -n "$_from_template" ]; then
		# What initdb --username --pwfile would have made: the bootstrap superuser named POSTGRES_USER,
		# with POSTGRES_PASSWORD (hashed with the server's default password_encryption).
		PGHOST='' PGHOSTADDR='' psql -v ON_ERROR_STOP=1 --username reprokit_init --no-password --no-psqlrc \
			--dbname postgres --quiet --set user="$POSTGRES_USER" --set password="$POSTGRES_PASSWORD" <<-'EOSQL'
			SELECT rolname <> :'user' AS rename FROM pg_authid WHERE oid = 10 \gset
			\if :rename
			ALTER ROLE postgres RENAME TO :"user";
			\endif
			SELECT :'password' <> '' AS has_password \gset
			\if :has_password
			ALTER ROLE :"user" PASSWORD :'password';
			\endif
		EOSQL
		run_psql --dbname postgres --quiet -c 'DROP ROLE reprokit_init'
	fi

	export PGPASSWORD="${PGPASSWORD:-$POSTGRES_PASSWORD}"
	if [ "$POSTGRES_DB" != postgres ]; then
		_exists=$(run_psql --dbname postgres --set db="$POSTGRES_DB" --tuples-only <<-'EOSQL'
			SELECT 1 FROM pg_database WHERE datname = :'db' ;
		EOSQL
		)
		if [ -z "$_exists" ]; then
			run_psql --dbname postgres --set db="$POSTGRES_DB" <<-'EOSQL'
				CREATE DATABASE :"db" ;
			EOSQL
			note
		fi
	fi

	note
	for _f in /docker-entrypoint-initdb.d/*; do
		case "$_f" in
			*.sh)
				if [ -x "$_f" ]; then note "$0: running $_f"; "$_f"
				else
					note "$0: sourcing $_f"
					# shellcheck source=/dev/null
					. "$_f"
				fi ;;
			*.sql) note "$0: running $_f"; run_psql --dbname "$POSTGRES_DB" -f "$_f"; note ;;
			*.sql.gz) note "$0: running $_f"; gunzip -c "$_f" | run_psql --dbname "$POSTGRES_DB"; note ;;
			*/\*) ;;  # the directory is empty
			*) note "$0: ignoring $_f" ;;
		esac
	done

	PGUSER="${PGUSER:-$POSTGRES_USER}" pg_ctl -D "$PGDATA" -m fast -w stop
	unset PGPASSWORD
	note
	note 'PostgreSQL init process complete; ready for start up.'
	note
}

# A command that starts with a flag is the server's flags.
if [ "${1#-}" != "$1" ]; then
	set -- postgres "$@"
fi

if [ "$1" = postgres ]; then
	: "${PGDATA:=/var/lib/postgresql/data}"
	export PGDATA
	if [ "$(id -u)" = 0 ]; then
		# Started as root (the default): own the directories, then run this script again as postgres.
		mkdir -p "$PGDATA" /var/run/postgresql
		chown postgres:postgres "$PGDATA" /var/run/postgresql
		chmod 700 "$PGDATA"
		chmod 3777 /var/run/postgresql
		if [ -n "${POSTGRES_INITDB_WALDIR:-}" ]; then
			mkdir -p "$POSTGRES_INITDB_WALDIR"
			chown postgres:postgres "$POSTGRES_INITDB_WALDIR"
			chmod 700 "$POSTGRES_INITDB_WALDIR"
		fi
		export HOME=/var/lib/postgresql
		exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
	fi
	if [ -s "$PGDATA/PG_VERSION" ]; then
		note 'PostgreSQL Database directory appears to contain a database; Skipping initialization'
	else
		init_database "$@"
	fi
fi

exec "$@"
