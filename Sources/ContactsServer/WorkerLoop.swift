import ContactsAPI
import ContactsCore
import ContactsPostgres
import ContactsStore
import FastCGI
public import Logging
public import Platform

/// One worker process's life: accept, answer, repeat, until a signal asks it to stop (between
/// requests, never during one), its supervisor is gone, or it has served `maxRequests`.
public struct WorkerLoop {
  let configuration: ServiceConfiguration
  let scoreboard: Scoreboard?
  let slot: Int?
  let poolSize: Int
  /// Whether a supervisor started this worker: then it exits as soon as the supervisor is gone.
  let supervised: Bool
  let logger: Logger

  /// - Parameters:
  ///   - configuration: the resolved settings.
  ///   - scoreboard: the pool's shared scoreboard, when a supervisor started this worker.
  ///   - slot: this worker's slot in it.
  ///   - poolSize: the pool's configured size, for the status page.
  ///   - supervised: exit as soon as the supervisor's lifeline closes.
  ///   - logger: the worker's logger; each request adds its user and request id.
  public init(
    configuration: ServiceConfiguration, scoreboard: Scoreboard?, slot: Int?, poolSize: Int, supervised: Bool,
    logger: Logger
  ) {
    self.configuration = configuration
    self.scoreboard = scoreboard
    self.slot = slot
    self.poolSize = poolSize
    self.supervised = supervised
    self.logger = logger
  }

  /// Serves until told to stop.
  ///
  /// - Returns: the process's exit status.
  public func run() -> Int32 {
    // Handlers before FCGX_Init, which would otherwise install libfcgi's own. The stop signals
    // stay blocked for the worker's whole life and are taken between requests (see
    // FastCGIConnection): no read of a request, and no wait inside libfcgi, is ever cut short.
    Signals.ignore([Signals.pipe])
    Signals.installInertHandlers(for: stopSignals + [Signals.user1])
    Signals.block(stopSignals + [Signals.user1])
    do {
      try UnixSocket.setAcceptWait(UnixSocket.inheritedDescriptor, milliseconds: 200)
    } catch {
      logger.log(.error, event: "worker_start_failed", "cannot set the accept wait: \(error)")
      return 1
    }

    let repository: any ContactRepository
    do {
      repository = try configuration.openRepository(logger: logger, duringAnOutage: true)
    } catch {
      logger.log(.error, event: "worker_start_failed", "cannot open the store: \(error)")
      return 1
    }
    // Loaded before the worker is ready, not by its first request: the PostgreSQL store opens
    // without loading, and a first write would load every contact while holding the lock that
    // every other host's writers wait on (1 s at 100,000 contacts). A store that cannot be
    // read now answers 503 until it can, as on any request.
    do {
      _ = try repository.currentState()
    } catch {
      logger.log(.warning, event: "store_unavailable", "cannot load the store yet: \(error)")
    }
    // The API's calls to the store are timed and counted on the scoreboard (/_contacts/metrics).
    let api = ContactsAPI(
      repository: MeasuredRepository(repository, scoreboard: scoreboard, slot: slot),
      configuration: .init(
        policy: configuration.roles, maximumBodyBytes: configuration.maxBodyBytes,
        listingCacheBytes: configuration.listingCacheBytes),
      logger: logger)
    let operations = OperationsEndpoints(
      scoreboard: scoreboard, slot: slot, poolSize: poolSize, configuration: configuration)
    if let scoreboard, let slot { scoreboard.claim(slot, pid: Processes.currentID) }
    let connection = FastCGIConnection(
      listeningDescriptor: UnixSocket.inheritedDescriptor,
      // Bulk requests may be up to 1 MiB; the API holds every other path to maxBodyBytes.
      maximumBodyBytes: max(configuration.maxBodyBytes, 1 << 20))
    logger.log(.info, event: "worker_ready", "worker serving", ["generation": "\(repository.cachedGeneration)"])

    var served = 0
    var consecutiveFailures = 0
    var started: UInt64 = 0
    while !shouldStop() {
      if supervised && Lifeline.parentIsGone() {
        logger.log(
          .warning, event: "supervisor_gone", "the supervisor is gone; exiting so that no orphan keeps the socket")
        return 0
      }
      let accepted = connection.accept {
        started = Clock.monotonicNanoseconds()
        if let scoreboard, let slot { scoreboard.beginRequest(slot) }
      }
      switch accepted {
      case .idle:
        continue
      case .failed(let code):
        consecutiveFailures += 1
        logger.log(.error, event: "accept_failed", "FCGX_Accept_r failed", ["code": "\(code)"])
        if consecutiveFailures >= 100 { return 1 }
      case .request(let request):
        consecutiveFailures = 0
        let apiRequest = APIRequest(request)
        var requestLogger = logger
        requestLogger[metadataKey: "user"] = request.param("REMOTE_USER").map { .string($0) }
        requestLogger[metadataKey: "request_id"] = request.param("REQUEST_ID").map { .string($0) }
        // The operations pages only for a path nginx matched as it is; any other goes to the API,
        // which refuses it (400) before anything else.
        let operationsResponse =
          apiRequest.targetProblem == nil
          ? operations.respond(to: apiRequest.path, repository: repository) : nil
        let response = operationsResponse ?? FastCGIResponse(api.respond(to: apiRequest, logger: requestLogger))
        let delivered = connection.respond(response)
        let nanoseconds = Clock.monotonicNanoseconds() - started
        let milliseconds = Int(nanoseconds / 1_000_000)
        let slow = milliseconds >= configuration.slowRequestMilliseconds
        if let scoreboard, let slot {
          scoreboard.endRequest(
            slot, method: apiRequest.method, status: response.status, nanoseconds: nanoseconds, slow: slow,
            generation: repository.cachedGeneration)
          let cache = api.listingCacheUsage
          let lookups = api.listingCacheLookups
          scoreboard.updateWorkerCounts(
            slot, storeReconnects: (repository as? PostgresContactRepository)?.reconnects ?? 0,
            listingCacheHits: lookups.hits, listingCacheMisses: lookups.misses, listingCacheBytes: cache.bytes,
            listingCachePages: cache.pages)
        }
        let fields: Logger.Metadata = [
          "method": .string(apiRequest.method), "path": .string(apiRequest.path),
          "status": .stringConvertible(response.status), "ms": .stringConvertible(milliseconds),
        ]
        if !delivered {
          requestLogger.log(.info, event: "client_gone", "the client went away before the response was written", fields)
        }
        if slow {
          requestLogger.log(
            .warning, event: "slow_request", "\(apiRequest.method) \(apiRequest.path) took \(milliseconds) ms", fields)
        } else if configuration.accessLog {
          requestLogger.log(
            .info, event: "request", "\(apiRequest.method) \(apiRequest.path) \(response.status)", fields)
        }
        // The response is finished (FCGX_Finish_r in `respond`): nginx has it and the client no
        // longer waits on this worker. Housekeeping (a due compaction of the data directory) runs
        // now, off every request's path; meanwhile this worker accepts nothing and the others serve.
        repository.performMaintenance()
        served += 1
        if configuration.maxRequests > 0 && served >= configuration.maxRequests {
          logger.log(
            .info, event: "worker_recycled", "served \(served) requests (--max-requests); exiting to be replaced")
          return 0
        }
      }
    }
    return 0
  }

  private let stopSignals = [Signals.terminate, Signals.interrupt]

  /// Whether SIGTERM or SIGINT is pending (blocked, so it waits here for the worker to ask).
  private func shouldStop() -> Bool {
    Signals.wait(for: stopSignals, timeoutMilliseconds: 0) != nil
  }
}
