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
  /// A write's answer is *held* until its change is durable, and the worker meanwhile goes on
  /// to the next request already waiting: the flush that settles the held answers then covers
  /// every change the worker wrote meanwhile (group commit within the worker, on top of the one
  /// between workers), and the worker's CPU does the next request's work instead of idling in
  /// `fdatasync`. Every answer computed while any is held is held too (its state may hold the
  /// unflushed changes), and all go out, in order, once `settleWrites()` returns; if that fails,
  /// each becomes a 503 and nothing computed from the lost changes is sent. With nothing
  /// waiting, which is every quiet moment, an answer goes out at once, as without holding.
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
      try UnixSocket.setNonBlocking(UnixSocket.inheritedDescriptor)
    } catch {
      logger.log(.error, event: "worker_start_failed", "cannot make the listening socket non-blocking: \(error)")
      return 1
    }

    let repository: any ContactRepository
    do {
      repository = try configuration.openRepository(logger: logger, duringAnOutage: true)
    } catch {
      logger.log(.error, event: "worker_start_failed", "cannot open the store: \(error)")
      return 1
    }
    (repository as? FileContactRepository)?.defersDurability = true
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
    let measured = MeasuredRepository(repository, scoreboard: scoreboard, slot: slot)
    let api = ContactsAPI(
      repository: measured,
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
      maximumBodyBytes: max(configuration.maxBodyBytes, 1 << 20),
      maximumOpenRequests: HeldAnswers<FastCGITicket>.capacity + 1)
    logger.log(.info, event: "worker_ready", "worker serving", ["generation": "\(repository.cachedGeneration)"])

    var served = 0
    var consecutiveFailures = 0
    var started: UInt64 = 0
    var held = HeldAnswers<FastCGITicket>()

    /// Counts one answer and sends it: counted first, so that a status page asked for after
    /// the answer arrived counts it and shows this worker idle (the other worker may serve that
    /// request at once). The write itself is then outside the request timeout; nginx buffers
    /// FastCGI responses (on by default, to a temporary file past `fastcgi_buffers`), so it
    /// reads them whole however slow its client.
    func finish(_ answer: HeldAnswers<FastCGITicket>.Answer, _ response: FastCGIResponse) {
      let nanoseconds = Clock.monotonicNanoseconds() - answer.started
      let milliseconds = Int(nanoseconds / 1_000_000)
      let slow = milliseconds >= configuration.slowRequestMilliseconds
      if let scoreboard, let slot {
        scoreboard.endRequest(
          slot, method: answer.request.method, status: response.status, nanoseconds: nanoseconds, slow: slow,
          generation: repository.cachedGeneration)
        let cache = api.listingCacheUsage
        let lookups = api.listingCacheLookups
        scoreboard.updateWorkerCounts(
          slot, storeReconnects: (repository as? PostgresContactRepository)?.reconnects ?? 0,
          listingCacheHits: lookups.hits, listingCacheMisses: lookups.misses, listingCacheBytes: cache.bytes,
          listingCachePages: cache.pages)
      }
      let delivered = connection.respond(response, to: answer.ticket)
      let fields: Logger.Metadata = [
        "method": .string(answer.request.method), "path": .string(answer.request.path),
        "status": .stringConvertible(response.status), "ms": .stringConvertible(milliseconds),
      ]
      if !delivered {
        answer.logger.log(.info, event: "client_gone", "the client went away before the response was written", fields)
      }
      if slow {
        answer.logger.log(
          .warning, event: "slow_request", "\(answer.request.method) \(answer.request.path) took \(milliseconds) ms",
          fields)
      } else if configuration.accessLog {
        answer.logger.log(
          .info, event: "request", "\(answer.request.method) \(answer.request.path) \(response.status)", fields)
      }
      served += 1
    }

    /// Makes the held answers' changes durable, then sends them in order (each a 503 if that
    /// failed). Housekeeping (a due compaction of the data directory) runs after, off every
    /// request's path: nginx has the answers and no client waits on this worker.
    func release() {
      let (answers, failure) = held.release(
        settle: { try measured.settleWrites() }, unavailable: { api.unavailableAnswer(to: $0, because: $1) })
      if let failure {
        logger.log(
          .error, event: "store_unavailable",
          "could not make the held answers' changes durable; answering each with 503: \(failure)",
          ["held": "\(answers.count)"])
      }
      if let scoreboard, let slot { scoreboard.countHeldBatch(slot, answers: answers.count) }
      for (answer, response) in answers { finish(answer, response) }
      repository.performMaintenance()
    }
    defer { if !held.isEmpty { release() } }

    while true {
      if held.isEmpty {
        if shouldStop() { break }
        if supervised && Lifeline.parentIsGone() {
          logger.log(
            .warning, event: "supervisor_gone", "the supervisor is gone; exiting so that no orphan keeps the socket")
          return 0
        }
        if configuration.maxRequests > 0 && served >= configuration.maxRequests {
          logger.log(
            .info, event: "worker_recycled", "served \(served) requests (--max-requests); exiting to be replaced")
          return 0
        }
      }
      // Holding answers, only a request already waiting is taken; none means send them now.
      let accepted = connection.accept(waitMilliseconds: held.isEmpty ? 200 : 0) {
        started = Clock.monotonicNanoseconds()
        // The scoreboard's request start stays the oldest held one's (the request timeout).
        if held.isEmpty, let scoreboard, let slot { scoreboard.beginRequest(slot) }
      }
      switch accepted {
      case .idle:
        if !held.isEmpty { release() }
      case .failed(let code):
        if !held.isEmpty { release() }
        consecutiveFailures += 1
        logger.log(.error, event: "accept_failed", "FCGX_Accept_r failed", ["code": "\(code)"])
        if consecutiveFailures >= 100 { return 1 }
      case .request(let request, let ticket):
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
        let answer = HeldAnswers.Answer(
          ticket: ticket, request: apiRequest, response: response, started: started, logger: requestLogger)
        if held.isEmpty && !repository.hasUnsettledWrites {
          finish(answer, response)
          repository.performMaintenance()
        } else if held.hold(answer, now: Clock.monotonicNanoseconds()) {
          release()
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
