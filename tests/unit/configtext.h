/*
 * configtext.h: a config loaded from a string, its diagnostics captured. For the unit tests
 * that load configs (test_config.c, test_fleet.c); static, include it once per test file.
 */
#ifndef SQLITE_AGENT_TEST_CONFIGTEXT_H
#define SQLITE_AGENT_TEST_CONFIGTEXT_H

#include <criterion/criterion.h>
#include <stdio.h>

#include "config.h"

/* config_load_string(text) as "t.ini": the config in *out (NULL when refused) and what it
 * wrote to its error stream, a malloc'ed string the caller frees. */
static char *load(const char *text, struct config **out)
{
    char *errs = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&errs, &len);

    cr_assert_not_null(f);
    *out = config_load_string(text, "t.ini", f);
    fclose(f);
    return errs;
}

#endif
