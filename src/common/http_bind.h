#pragma once

// Binding a cpp-httplib server (the ingest server and the API): SO_REUSEADDR, and a listen
// backlog raised from the library's 5 — with 5, a burst of clients connecting at once (a
// thousand sensors after a collector restart) sees SYNs dropped and retried for up to a minute.
// Header-only: its users link httplib, the common library does not.

#include <httplib.h>
#include <sys/socket.h>

#include <string>

namespace isdas {

// Binds `h` to host:port (port 0: any free one) and listens with `backlog`. Returns the port,
// or -1 when it cannot bind. Then call h.listen_after_bind().
inline int BindWithBacklog(httplib::Server& h, const std::string& host, int port, int backlog) {
  int listen_fd = -1;
  h.set_socket_options([&listen_fd](int fd) {
    int yes = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    listen_fd = fd;
  });
  const int bound = port == 0 ? h.bind_to_any_port(host) : (h.bind_to_port(host, port) ? port : -1);
  if (bound > 0 && listen_fd >= 0) ::listen(listen_fd, backlog);
  return bound > 0 ? bound : -1;
}

}  // namespace isdas
