/*
 * fuzz_config.c: libFuzzer target for the config reader (config_load_string: inih and the key
 * table). The config is trusted more than other input, but it is edited by hand, reloaded on
 * SIGHUP into a running agent and checked with --check-config: no input may crash it, leak
 * (LeakSanitizer runs after each input) or give a config that breaks its own invariants.
 *
 * Checks: a config is returned exactly when nothing but warnings was written (a file without
 * databases loads, with a warning: a packaged default watches nothing until edited); a returned
 * config has a listen port, and every database its name and path.
 *
 * Seed: the README's example config (scripts/test.sh writes one into the corpus).
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CONFIG_MAX (64u << 10) /* bigger inputs say nothing new and run slowly */

static void check(int cond)
{
    if (!cond)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text, *errs = NULL;
    size_t errlen = 0;

    if (size > FUZZ_CONFIG_MAX)
        return 0;
    text = malloc(size + 1);
    check(text != NULL);
    memcpy(text, data, size);
    text[size] = '\0';
    FILE *ef = open_memstream(&errs, &errlen);
    check(ef != NULL);
    struct config *c = config_load_string(text, "fuzz.ini", ef);
    fclose(ef);
    check(c != NULL || errlen > 0);
    if (c != NULL) {
        for (const char *line = errs; line != NULL && *line != '\0';) {
            check(strstr(line, ": warning: ") != NULL);
            const char *nl = strchr(line, '\n');
            line = nl ? nl + 1 : NULL;
        }
        check(c->listen_port > 0);
        for (size_t i = 0; i < c->ndbs; i++)
            check(c->dbs[i].name != NULL && c->dbs[i].path != NULL);
    }
    config_free(c);
    free(errs);
    free(text);
    return 0;
}
