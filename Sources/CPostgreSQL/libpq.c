// libpq, opened on first use. Each function the Swift code calls is defined here with libpq's
// own prototype (the compiler checks it against libpq-fe.h) and forwards to the library's.
#include "CPostgreSQL.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

/// The soname of libpq 14 and later (pipeline mode), Debian's libpq5. The environment variable
/// CONTACTS_LIBPQ names another file instead (a libpq installed elsewhere).
#define CONTACTS_LIBPQ_SONAME "libpq.so.5"

#define CONTACTS_LIBPQ_FUNCTIONS(X)                                                                \
  X(PQclear)                                                                                       \
  X(PQcmdStatus)                                                                                   \
  X(PQcmdTuples)                                                                                   \
  X(PQconnectdbParams)                                                                             \
  X(PQconsumeInput)                                                                                \
  X(PQconninfoFree)                                                                                \
  X(PQconninfoParse)                                                                               \
  X(PQenterPipelineMode)                                                                           \
  X(PQerrorMessage)                                                                                \
  X(PQexitPipelineMode)                                                                            \
  X(PQfinish)                                                                                      \
  X(PQfreemem)                                                                                     \
  X(PQgetisnull)                                                                                   \
  X(PQgetlength)                                                                                   \
  X(PQgetResult)                                                                                   \
  X(PQgetvalue)                                                                                    \
  X(PQisBusy)                                                                                      \
  X(PQntuples)                                                                                     \
  X(PQpipelineSync)                                                                                \
  X(PQputCopyData)                                                                                 \
  X(PQputCopyEnd)                                                                                  \
  X(PQresultErrorField)                                                                            \
  X(PQresultErrorMessage)                                                                          \
  X(PQresultStatus)                                                                                \
  X(PQsendPrepare)                                                                                 \
  X(PQsendQuery)                                                                                   \
  X(PQsendQueryParams)                                                                             \
  X(PQsendQueryPrepared)                                                                           \
  X(PQsetNoticeProcessor)                                                                          \
  X(PQsocket)                                                                                      \
  X(PQstatus)                                                                                      \
  X(PQtransactionStatus)

enum {
#define CONTACTS_INDEX(name) name##_index,
  CONTACTS_LIBPQ_FUNCTIONS(CONTACTS_INDEX)
#undef CONTACTS_INDEX
  contacts_libpq_function_count
};

static const char *const names[] = {
#define CONTACTS_NAME(name) #name,
    CONTACTS_LIBPQ_FUNCTIONS(CONTACTS_NAME)
#undef CONTACTS_NAME
};

static void *functions[contacts_libpq_function_count];
static char failure[1024];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void) {
  const char *path = getenv("CONTACTS_LIBPQ");
  if (path == NULL || path[0] == '\0') path = CONTACTS_LIBPQ_SONAME;
  void *library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (library == NULL) {
    snprintf(failure, sizeof failure,
             "cannot load the PostgreSQL client library %s (apt-get install libpq5, or name it in CONTACTS_LIBPQ): %s",
             path, dlerror());
    return;
  }
  for (int index = 0; index < contacts_libpq_function_count; index++) {
    functions[index] = dlsym(library, names[index]);
    if (functions[index] == NULL) {
      snprintf(failure, sizeof failure, "the PostgreSQL client library %s has no %s: libpq 14 or later is needed",
               path, names[index]);
      return;
    }
  }
}

const char *contacts_libpq_load(void) {
  pthread_once(&once, load);
  return failure[0] == '\0' ? NULL : failure;
}

/// The library's function at `index`. The Swift code loads before its first call and throws
/// a clear error when loading failed, so stopping here means a call came first: a bug.
static void *function(int index) {
  const char *problem = contacts_libpq_load();
  if (problem != NULL) {
    fprintf(stderr, "contacts-fcgi: %s\n", problem);
    abort();
  }
  return functions[index];
}

#define CONTACTS_FORWARD(type, name, parameters, arguments)                                        \
  type name parameters { return ((type(*) parameters)function(name##_index))arguments; }
#define CONTACTS_FORWARD_VOID(name, parameters, arguments)                                         \
  void name parameters { ((void (*) parameters)function(name##_index))arguments; }

CONTACTS_FORWARD_VOID(PQclear, (PGresult * res), (res))
CONTACTS_FORWARD(char *, PQcmdStatus, (PGresult * res), (res))
CONTACTS_FORWARD(char *, PQcmdTuples, (PGresult * res), (res))
CONTACTS_FORWARD(PGconn *, PQconnectdbParams,
                 (const char *const *keywords, const char *const *values, int expand_dbname),
                 (keywords, values, expand_dbname))
CONTACTS_FORWARD(int, PQconsumeInput, (PGconn * conn), (conn))
CONTACTS_FORWARD_VOID(PQconninfoFree, (PQconninfoOption * connOptions), (connOptions))
CONTACTS_FORWARD(PQconninfoOption *, PQconninfoParse, (const char *conninfo, char **errmsg), (conninfo, errmsg))
CONTACTS_FORWARD(int, PQenterPipelineMode, (PGconn * conn), (conn))
CONTACTS_FORWARD(char *, PQerrorMessage, (const PGconn *conn), (conn))
CONTACTS_FORWARD(int, PQexitPipelineMode, (PGconn * conn), (conn))
CONTACTS_FORWARD_VOID(PQfinish, (PGconn * conn), (conn))
CONTACTS_FORWARD_VOID(PQfreemem, (void *ptr), (ptr))
CONTACTS_FORWARD(int, PQgetisnull, (const PGresult *res, int tup_num, int field_num), (res, tup_num, field_num))
CONTACTS_FORWARD(int, PQgetlength, (const PGresult *res, int tup_num, int field_num), (res, tup_num, field_num))
CONTACTS_FORWARD(PGresult *, PQgetResult, (PGconn * conn), (conn))
CONTACTS_FORWARD(char *, PQgetvalue, (const PGresult *res, int tup_num, int field_num), (res, tup_num, field_num))
CONTACTS_FORWARD(int, PQisBusy, (PGconn * conn), (conn))
CONTACTS_FORWARD(int, PQntuples, (const PGresult *res), (res))
CONTACTS_FORWARD(int, PQpipelineSync, (PGconn * conn), (conn))
CONTACTS_FORWARD(int, PQputCopyData, (PGconn * conn, const char *buffer, int nbytes), (conn, buffer, nbytes))
CONTACTS_FORWARD(int, PQputCopyEnd, (PGconn * conn, const char *errormsg), (conn, errormsg))
CONTACTS_FORWARD(char *, PQresultErrorField, (const PGresult *res, int fieldcode), (res, fieldcode))
CONTACTS_FORWARD(char *, PQresultErrorMessage, (const PGresult *res), (res))
CONTACTS_FORWARD(ExecStatusType, PQresultStatus, (const PGresult *res), (res))
CONTACTS_FORWARD(int, PQsendPrepare,
                 (PGconn * conn, const char *stmtName, const char *query, int nParams, const Oid *paramTypes),
                 (conn, stmtName, query, nParams, paramTypes))
CONTACTS_FORWARD(int, PQsendQuery, (PGconn * conn, const char *query), (conn, query))
CONTACTS_FORWARD(int, PQsendQueryParams,
                 (PGconn * conn, const char *command, int nParams, const Oid *paramTypes,
                  const char *const *paramValues, const int *paramLengths, const int *paramFormats,
                  int resultFormat),
                 (conn, command, nParams, paramTypes, paramValues, paramLengths, paramFormats, resultFormat))
CONTACTS_FORWARD(int, PQsendQueryPrepared,
                 (PGconn * conn, const char *stmtName, int nParams, const char *const *paramValues,
                  const int *paramLengths, const int *paramFormats, int resultFormat),
                 (conn, stmtName, nParams, paramValues, paramLengths, paramFormats, resultFormat))
CONTACTS_FORWARD(PQnoticeProcessor, PQsetNoticeProcessor, (PGconn * conn, PQnoticeProcessor proc, void *arg),
                 (conn, proc, arg))
CONTACTS_FORWARD(int, PQsocket, (const PGconn *conn), (conn))
CONTACTS_FORWARD(ConnStatusType, PQstatus, (const PGconn *conn), (conn))
CONTACTS_FORWARD(PGTransactionStatusType, PQtransactionStatus, (const PGconn *conn), (conn))
