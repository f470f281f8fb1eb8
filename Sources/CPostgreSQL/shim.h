// The whole C surface of libpq that Swift sees. Only the ContactsPostgres target imports this module.
#ifndef CONTACTS_CPOSTGRESQL_SHIM_H
#define CONTACTS_CPOSTGRESQL_SHIM_H

#include <libpq-fe.h>

#endif
