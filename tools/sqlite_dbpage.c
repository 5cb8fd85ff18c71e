/*
 * sqlite_dbpage.c: a loadable SQLite extension providing a read-only "sqlite_dbpage" eponymous
 * virtual table, for the sqlite3 shell's .recover on systems whose libsqlite3 is built without
 * SQLITE_ENABLE_DBPAGE_VTAB (Debian 12's 3.40.1 among them).
 *
 *     sqlite3 copy.db -cmd '.load /usr/lib/sqlite-agent/sqlite_dbpage' '.recover' | sqlite3 new.db
 *
 * What .recover needs of it (SQLite 3.40.1, ext/recover/sqlite3recover.c, recoverGetPage):
 *     SELECT data FROM sqlite_dbpage(%Q) WHERE pgno=?
 * and nothing else: the page count comes from "PRAGMA page_count" and the page-1 fix-ups from
 * its own VFS shim. The table is the one SQLite's src/dbpage.c declares,
 *     CREATE TABLE x(pgno INTEGER PRIMARY KEY, data BLOB, schema HIDDEN)
 * read-only here (no xUpdate): a recovery reads its input, it never writes it.
 *
 * Pages are read through the connection's own file handle (SQLITE_FCNTL_FILE_POINTER, then
 * its xRead), not through a descriptor of our own: closing a second descriptor on the file
 * would drop every POSIX lock the process holds on it, and the pager's locks with it. Reads
 * bypass the page cache, exactly like src/dbpage.c's raw reads of the file; so this table
 * shows the database file alone and none of a -wal. Use it on a copy without WAL content (an
 * evidence copy is one), or checkpoint first.
 *
 * Public API only (sqlite3ext.h); built as a module: cmake --build build --target
 * sqlite_dbpage.
 */
#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT1

#include <stdlib.h>
#include <string.h>

/* fileformat2, 1.3.2: the page size, a big-endian u16 at offset 16; 1 means 65536. */
#define HEADER_PAGE_SIZE_OFFSET 16
#define PAGE_SIZE_MIN 512
#define PAGE_SIZE_MAX 65536
/* SQLite's SQLITE_DEFAULT_PAGE_SIZE, what the pager uses when the header is unusable. */
#define PAGE_SIZE_DEFAULT 4096

enum { COL_PGNO = 0, COL_DATA, COL_SCHEMA };
/* idxNum bits chosen in xBestIndex. */
enum { PLAN_SCHEMA = 1, PLAN_PGNO = 2 };

struct dbpage_vtab {
    sqlite3_vtab base;
    sqlite3 *db;
};

struct dbpage_cursor {
    sqlite3_vtab_cursor base;
    sqlite3_file *file;
    int page_size;
    sqlite3_int64 pgno, last;
    unsigned char *page; /* page_size bytes: the current page */
    int have_page;
};

static int dbpage_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                          sqlite3_vtab **out, char **err)
{
    struct dbpage_vtab *t;
    int rc;

    (void)aux;
    (void)argc;
    (void)argv;
    (void)err;
    rc = sqlite3_declare_vtab(db, "CREATE TABLE x(pgno INTEGER PRIMARY KEY, data BLOB, "
                                  "schema HIDDEN)");
    if (rc != SQLITE_OK)
        return rc;
    t = sqlite3_malloc(sizeof(*t));
    if (t == NULL)
        return SQLITE_NOMEM;
    memset(t, 0, sizeof(*t));
    t->db = db;
    *out = &t->base;
    return SQLITE_OK;
}

static int dbpage_disconnect(sqlite3_vtab *vt)
{
    sqlite3_free(vt);
    return SQLITE_OK;
}

/* Equality on schema and on pgno are used; anything else is a full scan of the pages. */
static int dbpage_best_index(sqlite3_vtab *vt, sqlite3_index_info *info)
{
    int schema_at = -1, pgno_at = -1, argv = 1;

    (void)vt;
    for (int i = 0; i < info->nConstraint; i++) {
        const struct sqlite3_index_constraint *c = &info->aConstraint[i];
        if (!c->usable || c->op != SQLITE_INDEX_CONSTRAINT_EQ)
            continue;
        if (c->iColumn == COL_SCHEMA && schema_at < 0)
            schema_at = i;
        else if ((c->iColumn == COL_PGNO || c->iColumn == -1) && pgno_at < 0)
            pgno_at = i;
    }
    info->idxNum = 0;
    if (schema_at >= 0) {
        info->aConstraintUsage[schema_at].argvIndex = argv++;
        info->aConstraintUsage[schema_at].omit = 1;
        info->idxNum |= PLAN_SCHEMA;
    }
    if (pgno_at >= 0) {
        info->aConstraintUsage[pgno_at].argvIndex = argv++;
        info->aConstraintUsage[pgno_at].omit = 1;
        info->idxNum |= PLAN_PGNO;
        info->estimatedCost = 1.0;
        info->estimatedRows = 1;
        info->idxFlags = SQLITE_INDEX_SCAN_UNIQUE;
    } else {
        info->estimatedCost = 1000000.0;
    }
    if (info->nOrderBy == 1 && info->aOrderBy[0].iColumn == COL_PGNO && !info->aOrderBy[0].desc)
        info->orderByConsumed = 1;
    return SQLITE_OK;
}

static int dbpage_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out)
{
    struct dbpage_cursor *c = sqlite3_malloc(sizeof(*c));

    (void)vt;
    if (c == NULL)
        return SQLITE_NOMEM;
    memset(c, 0, sizeof(*c));
    *out = &c->base;
    return SQLITE_OK;
}

static int dbpage_close(sqlite3_vtab_cursor *cur)
{
    struct dbpage_cursor *c = (struct dbpage_cursor *)cur;

    sqlite3_free(c->page);
    sqlite3_free(c);
    return SQLITE_OK;
}

/* The page size the file's header names, or the pager's default when it names none. */
static int file_page_size(sqlite3_file *f)
{
    unsigned char b[2];

    if (f->pMethods->xRead(f, b, 2, HEADER_PAGE_SIZE_OFFSET) != SQLITE_OK)
        return PAGE_SIZE_DEFAULT;
    int ps = b[0] << 8 | b[1];
    if (ps == 1)
        ps = PAGE_SIZE_MAX;
    if (ps < PAGE_SIZE_MIN || ps > PAGE_SIZE_MAX || (ps & (ps - 1)) != 0)
        return PAGE_SIZE_DEFAULT;
    return ps;
}

static int set_error(sqlite3_vtab_cursor *cur, const char *msg)
{
    sqlite3_free(cur->pVtab->zErrMsg);
    cur->pVtab->zErrMsg = sqlite3_mprintf("%s", msg);
    return SQLITE_ERROR;
}

static int dbpage_filter(sqlite3_vtab_cursor *cur, int idx_num, const char *idx_str, int argc,
                         sqlite3_value **argv)
{
    struct dbpage_cursor *c = (struct dbpage_cursor *)cur;
    struct dbpage_vtab *t = (struct dbpage_vtab *)cur->pVtab;
    const char *schema = "main";
    sqlite3_int64 size = 0;
    int a = 0;

    (void)idx_str;
    (void)argc;
    if (idx_num & PLAN_SCHEMA) {
        const unsigned char *s = sqlite3_value_text(argv[a++]);
        if (s != NULL)
            schema = (const char *)s;
    }
    c->file = NULL;
    if (sqlite3_file_control(t->db, schema, SQLITE_FCNTL_FILE_POINTER, &c->file) != SQLITE_OK ||
        c->file == NULL || c->file->pMethods == NULL)
        return set_error(cur, "sqlite_dbpage: no such schema, or it has no file");
    c->page_size = file_page_size(c->file);
    if (c->file->pMethods->xFileSize(c->file, &size) != SQLITE_OK)
        return set_error(cur, "sqlite_dbpage: cannot size the database file");
    c->last = (size + c->page_size - 1) / c->page_size;
    c->pgno = 1;
    if (idx_num & PLAN_PGNO) {
        sqlite3_int64 want = sqlite3_value_int64(argv[a]);
        /* src/dbpage.c: a page number past the end or below 1 yields no row */
        if (want < 1 || want > c->last) {
            c->pgno = 1;
            c->last = 0;
        } else {
            c->pgno = c->last = want;
        }
    }
    sqlite3_free(c->page);
    c->page = sqlite3_malloc(c->page_size);
    c->have_page = 0;
    return c->page == NULL ? SQLITE_NOMEM : SQLITE_OK;
}

static int dbpage_next(sqlite3_vtab_cursor *cur)
{
    struct dbpage_cursor *c = (struct dbpage_cursor *)cur;

    c->pgno++;
    c->have_page = 0;
    return SQLITE_OK;
}

static int dbpage_eof(sqlite3_vtab_cursor *cur)
{
    const struct dbpage_cursor *c = (const struct dbpage_cursor *)cur;

    return c->pgno > c->last;
}

static int dbpage_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col)
{
    struct dbpage_cursor *c = (struct dbpage_cursor *)cur;

    switch (col) {
    case COL_PGNO:
        sqlite3_result_int64(ctx, c->pgno);
        break;
    case COL_DATA:
        if (!c->have_page) {
            sqlite3_int64 off = (c->pgno - 1) * (sqlite3_int64)c->page_size;
            int rc = c->file->pMethods->xRead(c->file, c->page, c->page_size, off);
            /* A short read past the end is zero-filled by the VFS (SQLITE_IOERR_SHORT_READ),
             * as the pager sees a partial last page. */
            if (rc != SQLITE_OK && rc != SQLITE_IOERR_SHORT_READ) {
                sqlite3_result_error_code(ctx, rc);
                return rc;
            }
            c->have_page = 1;
        }
        sqlite3_result_blob(ctx, c->page, c->page_size, SQLITE_TRANSIENT);
        break;
    case COL_SCHEMA:
        sqlite3_result_text(ctx, "main", -1, SQLITE_STATIC);
        break;
    }
    return SQLITE_OK;
}

static int dbpage_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid)
{
    *rowid = ((struct dbpage_cursor *)cur)->pgno;
    return SQLITE_OK;
}

static sqlite3_module dbpage_module = {
    .iVersion = 0,
    .xCreate = NULL, /* eponymous-only: "sqlite_dbpage" exists in every schema, no CREATE */
    .xConnect = dbpage_connect,
    .xBestIndex = dbpage_best_index,
    .xDisconnect = dbpage_disconnect,
    .xDestroy = dbpage_disconnect,
    .xOpen = dbpage_open,
    .xClose = dbpage_close,
    .xFilter = dbpage_filter,
    .xNext = dbpage_next,
    .xEof = dbpage_eof,
    .xColumn = dbpage_column,
    .xRowid = dbpage_rowid,
};

/* The entry point the shell derives from the file name "sqlite_dbpage" (loadext.c,
 * sqlite3LoadExtension: "sqlite3_" + lower-case letters of the name + "_init"). */
int sqlite3_sqlitedbpage_init(sqlite3 *db, char **err, const sqlite3_api_routines *api);

int sqlite3_sqlitedbpage_init(sqlite3 *db, char **err, const sqlite3_api_routines *api)
{
    (void)err;
    SQLITE_EXTENSION_INIT2(api);
    return sqlite3_create_module(db, "sqlite_dbpage", &dbpage_module, NULL);
}
