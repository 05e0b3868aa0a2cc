/* test_port.h — loopback ports for the servers a C test starts.
 *
 * The same rule as tests/lib/ports.js: a port from below the kernel's
 * ephemeral range (an outgoing connection elsewhere on the machine may take
 * a port bind(0) picked before the server binds it), reserved across the
 * test processes running at once by a file created exclusively in
 * <tmp>/statsync-test-ports, released at exit. Main thread only. */
#ifndef STATSYNC_TEST_PORT_H
#define STATSYNC_TEST_PORT_H

/* A free, reserved loopback port, or -1. */
int test_port_free(void);

#endif
