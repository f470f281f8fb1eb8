// The whole C surface of libpq that Swift sees. Only the ContactsPostgres target imports this module.
//
// libpq is not linked: `libpq.c` defines the functions below as forwarders to the library,
// opened with dlopen on first use. A worker on the data directory never maps libpq nor its
// TLS, Kerberos and LDAP dependencies (about 4 MB of each worker's resident memory).
#ifndef CONTACTS_CPOSTGRESQL_H
#define CONTACTS_CPOSTGRESQL_H

// <postgresql/...> rather than <libpq-fe.h>: found under /usr/include without pkg-config's -I,
// whose -lpq would link the library after all. libpq-fe.h's own includes are quoted, found beside it.
#include <postgresql/libpq-fe.h>

/// Opens libpq and resolves every function this module forwards, once per process.
///
/// Returns NULL when all are there, or a message naming what is missing (the library, or a
/// function an older libpq lacks); every later call returns the same answer.
const char *contacts_libpq_load(void);

#endif
