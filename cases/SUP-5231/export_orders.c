/* export-orders: write the day's orders as CSV. Built from source on the customer's host (`make`), as our
 * on-premise agent is. Trimmed to what SUP-5231 needs: option parsing and the output. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void usage(void)
{
    fprintf(stderr, "usage: export-orders [-v] [-o FILE]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    /* The bug: getopt() returns an int, -1 when the options end. A plain `char` is signed on x86-64 but
     * unsigned on arm64 (AAPCS64), where -1 becomes 255: the loop never sees -1 and 255 lands in `default`. */
    char c;
    const char *path = NULL;
    int verbose = 0;

    while ((c = getopt(argc, argv, "vo:")) != -1) {
        switch (c) {
        case 'v':
            verbose = 1;
            break;
        case 'o':
            path = optarg;
            break;
        default:
            usage();
        }
    }
    FILE *out = path ? fopen(path, "w") : stdout;
    if (out == NULL) {
        perror(path);
        return 1;
    }
    fprintf(out, "order,customer,total\n1001,Vandelay Industries,129.90\n1002,Vandelay Industries,18.00\n");
    if (verbose)
        fprintf(stderr, "export-orders: 2 orders written to %s\n", path ? path : "stdout");
    return out == stdout ? 0 : fclose(out);
}
