/* The raw floors an alert command is compared with, each run as its own process:
 *   floors noop                          fork+exec of a program that does nothing
 *   floors post PORT PATH BODY           one HTTP/1.1 POST to 127.0.0.1:PORT, waits for the answer
 *   floors durable-post DIR PORT PATH BODY
 *                                        two durable writes (write, fsync, rename, fsync of the
 *                                        directory; twice, as a record and a queue entry would
 *                                        be), then the same POST
 *   floors durable1-post DIR PORT PATH BODY
 *                                        one durable write, then the same POST: what
 *                                        pandora-ilert's new alert does (docs/store.md)
 * Exit 0 when the answer is 2xx. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int post(int port, const char *path, const char *body) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return 70;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) return 69;
    char head[512];
    size_t len = strlen(body);
    int n = snprintf(head, sizeof head,
                     "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                     path, port, len);
    if (write(fd, head, n) != n || write(fd, body, len) != (ssize_t)len) return 69;
    char buf[1024];
    ssize_t got = 0, r;
    while (got < (ssize_t)sizeof buf - 1 && (r = read(fd, buf + got, sizeof buf - 1 - got)) > 0) {
        got += r;
        buf[got] = 0;
        if (strstr(buf, "\r\n\r\n")) break; /* the fake answers with an empty body */
    }
    close(fd);
    return (got > 12 && buf[9] == '2') ? 0 : 69;
}

static int durable_write(const char *dir, const char *name, const char *body) {
    char tmp[4096], final[4096];
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name);
    snprintf(final, sizeof final, "%s/%s", dir, name);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) return 73;
    size_t len = strlen(body);
    if (write(fd, body, len) != (ssize_t)len || fsync(fd) != 0) return 73;
    close(fd);
    if (rename(tmp, final) != 0) return 73;
    int d = open(dir, O_RDONLY | O_DIRECTORY);
    if (d < 0 || fsync(d) != 0) return 73;
    close(d);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "noop") == 0) return 0;
    if (argc == 5 && strcmp(argv[1], "post") == 0) return post(atoi(argv[2]), argv[3], argv[4]);
    if (argc == 6 && strcmp(argv[1], "durable-post") == 0) {
        int rc = durable_write(argv[2], "record.json", argv[5]);
        if (rc == 0) rc = durable_write(argv[2], "queued.json", argv[5]);
        return rc ? rc : post(atoi(argv[3]), argv[4], argv[5]);
    }
    if (argc == 6 && strcmp(argv[1], "durable1-post") == 0) {
        int rc = durable_write(argv[2], "queued.json", argv[5]);
        return rc ? rc : post(atoi(argv[3]), argv[4], argv[5]);
    }
    fprintf(stderr, "usage: floors noop | post PORT PATH BODY | durable-post DIR PORT PATH BODY"
                    " | durable1-post DIR PORT PATH BODY\n");
    return 64;
}
