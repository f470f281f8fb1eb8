// The whole C surface of libfcgi that Swift sees. Only the FastCGI target imports this module.
#ifndef CONTACTS_CFASTCGI_SHIM_H
#define CONTACTS_CFASTCGI_SHIM_H

#include <fcgiapp.h>

#endif
