#!/usr/bin/env bash
# CI: install (if needed) and start a local PostgreSQL for the test suite, on 127.0.0.1:5432 only.
# Idempotent; runs as root and uses Debian's cluster tools (pg_lsclusters, pg_createcluster, pg_ctlcluster),
# which run the server as the postgres user. Creates role tunelab (password tunelab, CREATEDB) and the
# database tunelab_test owned by it. The tests read TUNELAB_TEST_PG_URL (see .ci/run and tests/conftest.py).
set -euo pipefail

PG_HOST=127.0.0.1
PG_PORT=5432
PG_ROLE=tunelab
PG_PASSWORD=tunelab
PG_DB=tunelab_test
READY_TIMEOUT_S=30
CONF_NAME=zz-tunelab-ci.conf   # our drop-in in the cluster's conf.d; sorts last

# A UTF-8 locale that always exists on Debian: a new cluster gets UTF8 encoding and initdb does not
# trip over a locale the machine lacks.
export LC_ALL=C.UTF-8 LANG=C.UTF-8

die() { echo "postgres.sh: error: $*" >&2; exit 1; }
log() { echo "postgres.sh: $*"; }

if [[ $EUID -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
        exec sudo -- bash "${BASH_SOURCE[0]}" "$@"
    fi
    die "must run as root (it installs packages and manages the cluster as the postgres user)"
fi

# 1. Server binaries.
if ! compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null; then
    log "installing postgresql with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -qq update
    apt-get -qq install -y -o Dpkg::Use-Pty=0 postgresql >/dev/null
fi
for tool in pg_lsclusters pg_createcluster pg_ctlcluster pg_isready psql runuser; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found (is postgresql-common installed?)"
done

# 2. A cluster on port 5432: the one already there (preferring a running one), else a new one.
#    pg_lsclusters -h columns: version cluster port status owner datadir logfile
clusters_on_port() { pg_lsclusters -h | awk -v port="$PG_PORT" '$3 == port'; }
pick=$(clusters_on_port | awk '$4 ~ /^online/' | head -n1)
[[ -n $pick ]] || pick=$(clusters_on_port | head -n1)
if [[ -z $pick ]]; then
    if pg_isready -q -h "$PG_HOST" -p "$PG_PORT"; then
        die "something that is not a Debian-managed cluster already listens on $PG_HOST:$PG_PORT; stop it first"
    fi
    version=$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/pg_ctl' \
        | awk -F/ '{print $5}' | sort -V | tail -n1)
    name=main
    if pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" {found=1} END {exit !found}'; then
        name=tunelab   # a "main" exists but on another port: leave it alone
    fi
    log "creating cluster $version/$name on port $PG_PORT"
    pg_createcluster --port "$PG_PORT" --locale C.UTF-8 "$version" "$name" >/dev/null
    pick=$(clusters_on_port | awk -v v="$version" -v c="$name" '$1 == v && $2 == c')
    [[ -n $pick ]] || die "pg_createcluster did not create $version/$name on port $PG_PORT"
fi
read -r version name _port status owner datadir logfile <<<"$pick"
cluster="$version/$name"
confdir="/etc/postgresql/$version/$name"

# 3. Listen on 127.0.0.1 only. A conf.d drop-in if postgresql.conf includes conf.d, else edit postgresql.conf.
if grep -Eq "^[[:space:]]*include_dir[[:space:]]*=?[[:space:]]*'conf\.d'" "$confdir/postgresql.conf"; then
    want="# Written by TuneLab's .ci/postgres.sh: accept connections on $PG_HOST only.
listen_addresses = '$PG_HOST'"
    if [[ ! -f $confdir/conf.d/$CONF_NAME ]] || [[ $(cat "$confdir/conf.d/$CONF_NAME") != "$want" ]]; then
        install -d -o "$owner" -g "$(id -gn "$owner")" -m 0755 "$confdir/conf.d"
        printf '%s\n' "$want" >"$confdir/conf.d/$CONF_NAME"
        chown "$owner:$(id -gn "$owner")" "$confdir/conf.d/$CONF_NAME"
        chmod 0644 "$confdir/conf.d/$CONF_NAME"
    fi
else
    pg_conftool "$version" "$name" set listen_addresses "$PG_HOST"
fi

as_owner_psql() {  # psql as the cluster owner over the Unix socket (peer auth), on database postgres
    runuser -u "$owner" -- psql --cluster "$cluster" -X -q -At -v ON_ERROR_STOP=1 -d postgres "$@"
}

show_log_tail() {
    if [[ -n ${logfile:-} && -r $logfile ]]; then
        echo "---- last lines of $logfile" >&2
        tail -n 20 "$logfile" >&2
    fi
}

# 4. Start it, or leave a running one alone unless it listens on more than 127.0.0.1.
if [[ $status == online* ]]; then
    current=$(as_owner_psql -c 'SHOW listen_addresses')
    if [[ $current != "$PG_HOST" ]]; then
        log "cluster $cluster is running with listen_addresses='$current'; restarting it to listen on $PG_HOST only"
        pg_ctlcluster "$cluster" restart -m fast || { show_log_tail; die "could not restart cluster $cluster"; }
    else
        log "cluster $cluster already running"
    fi
else
    log "starting cluster $cluster"
    pg_ctlcluster "$cluster" start || { show_log_tail; die "could not start cluster $cluster"; }
fi

# 5. Bounded wait until it accepts connections on 127.0.0.1.
deadline=$((SECONDS + READY_TIMEOUT_S))
until pg_isready -q -h "$PG_HOST" -p "$PG_PORT"; do
    if ((SECONDS >= deadline)); then
        show_log_tail
        die "PostgreSQL (cluster $cluster) is not accepting connections on $PG_HOST:$PG_PORT after ${READY_TIMEOUT_S} s"
    fi
    sleep 1
done

current=$(as_owner_psql -c 'SHOW listen_addresses')
[[ $current == "$PG_HOST" ]] \
    || die "cluster $cluster listens on '$current', not only $PG_HOST (overridden in postgresql.auto.conf?)"

# 6. Role and database (idempotent). The password is reset each run so it is known to be right.
as_owner_psql >/dev/null <<SQL
DO \$\$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_ROLE') THEN
        CREATE ROLE $PG_ROLE LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
    ELSE
        ALTER ROLE $PG_ROLE WITH LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
    END IF;
END
\$\$;
SELECT 'CREATE DATABASE $PG_DB OWNER $PG_ROLE'
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$PG_DB')\gexec
ALTER DATABASE $PG_DB OWNER TO $PG_ROLE;
SQL

# 7. Check the way the tests connect: TCP on 127.0.0.1 with the password.
PGPASSWORD=$PG_PASSWORD PGCONNECT_TIMEOUT=5 psql -X -q -At -h "$PG_HOST" -p "$PG_PORT" -U "$PG_ROLE" -d "$PG_DB" \
    -c 'SELECT 1' >/dev/null \
    || die "cannot log in as $PG_ROLE to $PG_DB on $PG_HOST:$PG_PORT with the password (check pg_hba.conf in $confdir)"

echo "postgres ready: postgresql+psycopg://$PG_ROLE:***@$PG_HOST:$PG_PORT/$PG_DB"
