#!/bin/sh
# build.sh OUTDIR: builds the helper programs the elfver and procscan unit tests run.
#   holder_shared                    sqlite_holder linked against libsqlite3.so
#   holder_static                    sqlite_holder with libsqlite3.a linked in (symbols kept)
#   holder_static_stripped           the same, stripped (no .symtab: found by source id)
#   holder_static_patched            holder_static with its version string(s) patched to 3.51.3
#   holder_static_stripped_patched   holder_static_stripped, patched the same way
#   libsqlite3_old.so                the system libsqlite3.so with its version patched to 3.39.4
#   libsqlite3_older.so              ... and to 3.38.0
#   patchver                         the patcher
# Needs a C compiler and libsqlite3-dev (which ships libsqlite3.a). CC overrides cc.
set -eu
out=${1:?usage: build.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
cc=${CC:-cc}
cflags="-std=c11 -O1 -g -Wall -Wextra"

mkdir -p "$out"
static_lib=$($cc -print-file-name=libsqlite3.a)
shared_lib=$(readlink -f "$($cc -print-file-name=libsqlite3.so)")
if [ ! -f "$static_lib" ]; then
    echo "build.sh: libsqlite3.a not found (apt-get install libsqlite3-dev)" >&2
    exit 1
fi
# The version the headers (and so libsqlite3.a) carry, e.g. 3.40.1.
from=$(printf '#include <sqlite3.h>\nSQLITE_VERSION\n' | $cc -E -P -x c - | tail -n 1 | tr -d '" ')
to=3.51.3
if [ ${#from} -ne ${#to} ]; then
    echo "build.sh: SQLite $from cannot be patched to $to in place (lengths differ)" >&2
    exit 1
fi

$cc $cflags -o "$out/patchver" "$here/patchver.c"
$cc $cflags -o "$out/holder_shared" "$here/sqlite_holder.c" -lsqlite3
$cc $cflags -o "$out/holder_static" "$here/sqlite_holder.c" "$static_lib" -lm -lpthread -ldl
strip -o "$out/holder_static_stripped" "$out/holder_static"
"$out/patchver" "$out/holder_static" "$out/holder_static_patched" "$from" "$to"
"$out/patchver" "$out/holder_static_stripped" "$out/holder_static_stripped_patched" "$from" "$to"
"$out/patchver" "$shared_lib" "$out/libsqlite3_old.so" "$from" 3.39.4
"$out/patchver" "$shared_lib" "$out/libsqlite3_older.so" "$from" 3.38.0
echo "$from" > "$out/sqlite_version"
