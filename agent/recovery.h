#ifndef KMA_AGENT_RECOVERY_H
#define KMA_AGENT_RECOVERY_H

/* The directives from the coordinator, from receipt to result (moved from agent/daemon.c). */

#include <event2/event.h>
#include <stddef.h>

#include "daemon_priv.h"
#include "kma.pb-c.h"

/* At start: what became of the last directive. */
void dir_startup(struct daemon *d);

/* The coordinator link's directives callback (coordlink_deps.directives). */
void on_directives(void *arg, Kma__V1__Directive *const *ds, size_t n);

/* Runs the accepted disruptive directive (the daemon's ev_act). */
void on_act(evutil_socket_t fd, short what, void *arg);

#endif
