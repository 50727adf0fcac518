/* wsbench entry point: `wsbench [--tls=CA.pem] [--deflate] run PORT PID TEST ARGS...`, `wsbench echo-server [CERT KEY]`,
 * `wsbench gen LEN LINES`, `wsbench numbered LEN [LINES] [RATE]`. */
#include "wsbench.h"

static int run_test(const char *t, int n, char **a) {
    if (strcmp(t, "spawn") == 0) return t_spawn(n, a);
    if (strcmp(t, "spawnpair") == 0) return t_spawnpair(n, a);
    if (strcmp(t, "hold") == 0) return t_hold(n, a);
    if (strcmp(t, "rtt") == 0) return t_rtt(n, a);
    if (strcmp(t, "rttpair") == 0) return t_rttpair(n, a);
    if (strcmp(t, "pipe") == 0) return t_pipe(n, a);
    if (strcmp(t, "pipecat") == 0) return t_pipecat(n, a);
    if (strcmp(t, "flood") == 0) return t_flood(n, a);
    if (strcmp(t, "slow") == 0) return t_slow(n, a);
    if (strcmp(t, "duplex") == 0) return t_duplex(n, a);
    if (strcmp(t, "fanout") == 0) return t_fanout(n, a);
    die("unknown test %s", t);
    return 2;
}

int main(int argc, char **argv) {
    init_tables();
    while (argc >= 2 && (strncmp(argv[1], "--tls=", 6) == 0 || strcmp(argv[1], "--deflate") == 0)) {
        if (argv[1][2] == 't') g_tls_ca = argv[1] + 6;
        else g_deflate = 1;
        argv[1] = argv[0];
        argv++;
        argc--;
    }
    if (argc >= 2 && strcmp(argv[1], "echo-server") == 0) return f_echo_server(argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "gen") == 0) return f_gen(argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "numbered") == 0) return f_numbered(argc - 2, argv + 2);
    if (argc >= 5 && strcmp(argv[1], "run") == 0) {
        g_port = atoi(argv[2]);
        char *pids = argv[3], *save = NULL;
        int k = -1;
        for (char *t = strtok_r(pids, ",", &save); t && k < 7; t = strtok_r(NULL, ",", &save), k++) {
            if (k < 0) g_server_pid = atoi(t);
            else g_helper_pids[k] = atoi(t);
        }
        const char *t = argv[4];
        int n = argc - 5;
        char **a = argv + 5;
        loop_init();
        int rc = run_test(t, n, a);
        /* A string value: scripts/bench keeps it in results.tsv, table.py prints it under the table. */
        if (g_tls_negotiated[0]) out("negotiated", "%s", g_tls_negotiated);
        if (g_deflate_answer[0]) out("extension", "%s", g_deflate_answer);
        /* --deflate: a connection the server would not compress must not pass for a compressed one. */
        if (g_deflate_declined) {
            out("deflate_declined", "%llu", (unsigned long long)g_deflate_declined);
            return rc ? rc : 3;
        }
        return rc;
    }
    fprintf(stderr,
            "usage: wsbench [--tls=CA.pem] [--deflate] run PORT SERVER_PID[,HELPER_PID...] TEST ARGS...\n"
            "  --tls=CA.pem                        wss://: TLS on every connection, full handshakes, the server's\n"
            "                                      certificate verified against CA.pem for 127.0.0.1\n"
            "  --deflate                           offer permessage-deflate (RFC 7692) as Chromium does; fail\n"
            "                                      (exit 3) if any 101 does not agree; compress what is sent\n"
            "  spawn PREFIX N CONC MAXSEC          connect -> first message of `?hi`, then the server's close\n"
            "  spawnpair PREFIX PORT2 BLOCKS PER CONC MAXSEC  the same on two servers in alternating blocks\n"
            "  hold N MAXSEC SPAWN_N SPAWN_SEC [IDLE_SEC]  N `?cat` connections open and echoed, RSS (again\n"
            "                                      IDLE_SEC after the last echo), spawn while open\n"
            "  rtt N MAXSEC                        16-byte text round trips through `?cat`\n"
            "  rttpair PORT2 BLOCKS PER MAXSEC     the same on two servers in alternating blocks (A B B A ...)\n"
            "  pipe PREFIX CONNS SIZE WINDOW WARM DUR text|binary|json  (json: records, see json_pool)\n"
            "  pipecat WINDOW CHUNK WARM DUR       the same stream through a local `cat` over pipes\n"
            "  flood WARM DUR                      count 63-byte lines from `?yes`\n"
            "  slow PAUSE LINES LEN MAXREAD        pause reading `?slow`, sample the server's VmRSS, check lines\n"
            "  duplex WINDOW TOTAL SIZE STALLSEC   write WINDOW ahead before reading, through `?cat`\n"
            "  fanout PREFIX N WARM DUR SLOW [QUERY]  N clients of one broadcast child (`numbered 64`), every\n"
            "                                      client's numbers checked for gaps; SLOW=1: then one more client\n"
            "                                      reading 1 KiB every 100 ms (a window without, with, without),\n"
            "                                      and the longest time any of the N went without a message\n"
            "wsbench echo-server [CERT KEY]        trivial epoll echo server on 127.0.0.1 (TLS with CERT and KEY); prints its port\n"
            "wsbench gen LEN LINES                 numbered lines for the slow-reader child\n"
            "wsbench numbered LEN [LINES] [RATE]   numbered LEN-byte lines (the fan-out child), as fast as it can or\n"
            "                                      RATE lines/s (written every 1 ms; a stall is not caught up)\n");
    return 2;
}
