/* Runs one command and prints "<exit code> <peak RSS KiB> <wall microseconds>" on stdout.
 * The command's own stdout and stderr go to /dev/null. Forking from this small process keeps
 * the parent's pages out of the child's ru_maxrss (a fork from Python would count Python's
 * ~14 MiB), and the clock covers exactly fork, exec, the run and the reaping. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) return 64;
    int devnull = open("/dev/null", O_WRONLY);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(devnull, 1);
        dup2(devnull, 2);
        execv(argv[1], argv + 1);
        _exit(127);
    }
    int status = 0;
    struct rusage usage;
    wait4(pid, &status, 0, &usage);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long us = (t1.tv_sec - t0.tv_sec) * 1000000L + (t1.tv_nsec - t0.tv_nsec) / 1000;
    printf("%d %ld %ld\n", WIFEXITED(status) ? WEXITSTATUS(status) : 128, usage.ru_maxrss, us);
    return 0;
}
