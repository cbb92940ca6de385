#ifndef KMA_HAL_LISTENQ_H
#define KMA_HAL_LISTENQ_H

/*
 * A TCP listening port's accept queue, measured as the kernel sees it (the linux backend,
 * and the sim backend on the real sockets of a simulated node):
 *
 * - sock_diag netlink (NETLINK_SOCK_DIAG, inet_diag, what `ss -lt` shows): for every socket
 *   listening on the port, IPv4 and IPv6, the connections waiting to be accepted
 *   (idiag_rqueue) and the most the queue holds (idiag_wqueue, the listen() backlog as the
 *   kernel capped it). Several sockets on one port (both families, SO_REUSEPORT) add up.
 * - the network namespace's TcpExt ListenOverflows and ListenDrops counters from
 *   /proc/net/netstat: connections the kernel dropped because an accept queue was full
 *   (ListenOverflows) or for any reason at a listener (ListenDrops, which includes them).
 *   They are not per port: the caller tells them apart by which queue is full.
 *
 * A full queue on Linux drops the client's SYN (or its final ACK) without an answer, unless
 * net.ipv4.tcp_abort_on_overflow is set (then the client gets a reset): clients see
 * timeouts, and "connection refused" once the listener is gone.
 */

#include "hal.h"

/* Measures port into out; netstat is the path of /proc/net/netstat (under a test's root). */
enum hal_status listenq_measure(unsigned port, const char *netstat, struct hal_listen_queue *out,
                                char *err, size_t size) __attribute__((warn_unused_result));

/* Reads ListenOverflows and ListenDrops from a /proc/net/netstat text; 0 or -1. */
int listenq_parse_netstat(const char *text, uint64_t *overflows, uint64_t *drops);

#endif
