/* Minimal pod sandbox ("pause") process for the isobox test cluster.
 * Written for isobox (behaviour modelled on the upstream pause: sleep forever,
 * reap children, exit 0 on SIGINT/SIGTERM). Built with gcc -static. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_term(int sig) { (void)sig; _exit(0); }
static void on_chld(int sig) { (void)sig; while (waitpid(-1, NULL, WNOHANG) > 0) {} }

int main(int argc, char **argv) {
  if (argc > 1 && argv[1][0] == '-' && argv[1][1] == 'v') { puts("isobox-pause"); return 0; }
  if (getpid() != 1) fprintf(stderr, "warning: pause should be the first process\n");
  struct sigaction t = {.sa_handler = on_term}, c = {.sa_handler = on_chld, .sa_flags = SA_NOCLDSTOP};
  sigaction(SIGINT, &t, NULL);
  sigaction(SIGTERM, &t, NULL);
  sigaction(SIGCHLD, &c, NULL);
  for (;;) pause();
  return 42;
}
