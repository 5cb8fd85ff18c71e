/*
 * fuzz_problems.c: libFuzzer target for the problem-row classifier (problems.h). Rows come
 * from SQLite but carry names from the monitored file's schema, so they are outside input.
 *
 * Every input, NUL-terminated, goes to every function; beyond "no crash, no sanitizer report"
 * it checks the contract: a kind in range, outputs NUL-terminated within their caps, an index
 * name only for a one-line row that ends with it, a list no longer than its buffer.
 *
 * Build and run (clang with libclang-rt-14-dev):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iagent agent/problems.c \
 *       tests/fuzz/fuzz_problems.c -o fuzz_problems
 *   ./fuzz_problems -max_total_time=60
 */
#include "problems.h"

#include <stdlib.h>
#include <string.h>

static void check(int cond)
{
    if (!cond)
        abort();
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len)
{
    char *row = malloc(len + 1), name[64], first[40], list[48];

    if (row == NULL)
        return 0;
    memcpy(row, data, len);
    row[len] = '\0';
    enum problem_kind k = problems_classify(row);
    check((unsigned)k < PROBLEM_KIND_COUNT);
    check((unsigned)problems_classify_failure(row) < PROBLEM_KIND_COUNT);
    if (problems_index_name(row, name, sizeof(name)) == 0) {
        size_t n = strlen(name), r = strlen(row);
        check(n > 0 && n < sizeof(name) && n <= r && strcmp(row + r - n, name) == 0);
        check(strchr(row, '\n') == NULL);
    }
    problems_first_message(row, first, sizeof(first));
    check(strlen(first) < sizeof(first));
    int count = problems_index_list(row, len % 2 == 1, list, sizeof(list));
    check(count >= -1 && strlen(list) < sizeof(list));
    free(row);
    return 0;
}
