/*
 * The floor for deploy/bench.sh: a minimal libfcgi responder that answers every request with
 * the same 88-byte JSON body and "Status: 200", reading nothing. Put behind the same nginx and
 * the same basic auth as the Contacts responder, it shows what nginx + FastCGI + the socket
 * cost by themselves, so the responder's own share can be told apart.
 *
 *     gcc -O2 -o fixed-responder fixed-responder.c -lfcgi
 *     fixed-responder SOCKET_PATH [PROCESSES]      (PROCESSES defaults to 2)
 *
 * It creates the unix socket (mode 0666, so nginx's workers can connect), forks PROCESSES
 * children that each run an FCGX_Accept_r loop on it, and stops them all on SIGTERM or SIGINT
 * (children also die with the parent). Loopback only by construction: a unix socket.
 */
#include <fcgiapp.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static const char body[] =
    "{\"id\":\"00000000000000000000000000000001\",\"type\":\"Custom\",\"name\":\"F\",\"phoneNumber\":\"+1\"}\n";
_Static_assert(sizeof(body) - 1 == 88, "the fixed body is 88 bytes");

static void serve(int listener) {
  char head[160];
  int head_length = snprintf(head, sizeof head,
                             "Status: 200 OK\r\nContent-Type: application/json; charset=utf-8\r\n"
                             "Content-Length: %zu\r\n\r\n",
                             sizeof(body) - 1);
  FCGX_Request request;
  if (FCGX_InitRequest(&request, listener, 0) != 0) _exit(1);
  while (FCGX_Accept_r(&request) >= 0) {
    FCGX_PutStr(head, head_length, request.out);
    FCGX_PutStr(body, (int)(sizeof(body) - 1), request.out);
    FCGX_Finish_r(&request);
  }
  _exit(0);
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: %s SOCKET_PATH [PROCESSES]\n", argv[0]);
    return 2;
  }
  const char *path = argv[1];
  int processes = argc == 3 ? atoi(argv[2]) : 2;
  if (processes < 1 || processes > 64) {
    fprintf(stderr, "PROCESSES must be from 1 to 64\n");
    return 2;
  }

  // Block the stop signals before forking: the parent takes them with sigwait, and each child
  // unblocks them again so that the default action (exit) applies there.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  sigprocmask(SIG_BLOCK, &stop, NULL);

  if (FCGX_Init() != 0) {
    fprintf(stderr, "FCGX_Init failed\n");
    return 1;
  }
  unlink(path);
  int listener = FCGX_OpenSocket(path, 1024);
  if (listener < 0) {
    fprintf(stderr, "cannot listen on %s: %s\n", path, strerror(errno));
    return 1;
  }
  chmod(path, 0666);

  pid_t children[64];
  for (int index = 0; index < processes; index++) {
    pid_t pid = fork();
    if (pid < 0) {
      perror("fork");
      processes = index;
      break;
    }
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (getppid() == 1) _exit(0);  // the parent is already gone
      sigprocmask(SIG_UNBLOCK, &stop, NULL);
      serve(listener);
    }
    children[index] = pid;
  }

  int signal_number = 0;
  sigwait(&stop, &signal_number);
  for (int index = 0; index < processes; index++) kill(children[index], SIGTERM);
  for (int index = 0; index < processes; index++) waitpid(children[index], NULL, 0);
  unlink(path);
  return 0;
}
