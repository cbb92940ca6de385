#ifndef KMA_EXITCODES_H
#define KMA_EXITCODES_H

/*
 * Exit statuses shared by kma-agent, kma-coord and kmactl (sysexits.h values where one
 * fits), so scripts and tests can tell failures apart.
 */

#define KMA_EXIT_OK          0
#define KMA_EXIT_FAILURE     1  /* the command ran and the answer is "no" / a runtime failure */
#define KMA_EXIT_USAGE       64 /* bad command line */
#define KMA_EXIT_DATAERR     65 /* bad input data: corrupt identity record, unusable PEM */
#define KMA_EXIT_NOINPUT     66 /* an input file does not exist or cannot be read */
#define KMA_EXIT_UNAVAILABLE 69 /* a service or feature is not available */
#define KMA_EXIT_SOFTWARE    70 /* internal error */
#define KMA_EXIT_IOERR       74 /* the HAL or the file system failed */
#define KMA_EXIT_TEMPFAIL    75 /* try again: e.g. a coordinator that is no longer the active one */
#define KMA_EXIT_CONFIG      78 /* configuration file or board definition is wrong */

#endif
