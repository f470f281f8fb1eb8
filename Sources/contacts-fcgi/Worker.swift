import ArgumentParser
import ContactsAPI
import ContactsCore
import ContactsServer
import ContactsStore
import FastCGI
import Platform

/// `contacts-fcgi worker`: one worker process. The supervisor starts these with the listening
/// socket on descriptor 0; spawn-fcgi or systemd socket activation can start one the same way.
struct Worker: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Serve FastCGI requests on the listening socket inherited on descriptor 0 (started by serve).",
    shouldDisplay: false)

  @OptionGroup var options: ServiceOptions

  @Option(help: .hidden)
  var scoreboardSlot: Int?

  @Option(help: .hidden)
  var poolSize: Int = 1

  /// Set by the supervisor: descriptor 4 is its end of the supervisor's lifeline.
  @Flag(help: .hidden)
  var supervised = false

  func run() throws {
    let configuration = try options.resolved()
    guard FastCGIListener.isListeningSocket() else {
      throw ValidationError("descriptor 0 is not a listening socket; run 'contacts-fcgi serve' instead")
    }
    var scoreboard: Scoreboard?
    if scoreboardSlot != nil {
      do {
        scoreboard = try Scoreboard(descriptor: Scoreboard.workerDescriptor)
      } catch {
        Log.warning("scoreboard", "no scoreboard on descriptor 3 (\(error)); status shows this worker only")
      }
    }
    if supervised && !Lifeline.isLifeline() {
      throw ValidationError("--supervised, but descriptor \(Lifeline.childDescriptor) is not the supervisor's lifeline")
    }
    let loop = WorkerLoop(
      configuration: configuration, scoreboard: scoreboard, slot: scoreboard == nil ? nil : scoreboardSlot,
      poolSize: poolSize, supervised: supervised)
    throw ExitCode(loop.run())
  }
}

/// Accept, answer, repeat, until a signal asks to stop (between requests, never during one).
struct WorkerLoop {
  let configuration: ServiceConfiguration
  let scoreboard: Scoreboard?
  let slot: Int?
  let poolSize: Int
  /// Whether a supervisor started this worker: then it exits as soon as the supervisor is gone.
  let supervised: Bool

  func run() -> Int32 {
    // Handlers before FCGX_Init, which would otherwise install libfcgi's own. The stop signals
    // stay blocked for the worker's whole life and are taken between requests (see
    // FastCGIConnection): no read of a request, and no wait inside libfcgi, is ever cut short.
    Signals.ignore([Signals.pipe])
    Signals.installInertHandlers(for: stopSignals + [Signals.user1])
    Signals.block(stopSignals + [Signals.user1])
    do {
      try FastCGIListener.setAcceptWait(milliseconds: 200)
    } catch {
      Log.error("worker_start_failed", "cannot set the accept wait: \(error)")
      return 1
    }

    let repository: FileContactRepository
    do {
      repository = try FileContactRepository(
        directory: configuration.dataDirectory, log: { Log.warning("store", $0) })
    } catch {
      Log.error("worker_start_failed", "cannot open the data directory: \(error)")
      return 1
    }
    repository.compactionThresholdBytes = Int64(configuration.journalCompactionBytes)
    // Who the request in hand is for, so that log lines from inside the API can say.
    let current = CurrentRequest()
    let api = ContactsAPI(
      repository: repository,
      configuration: .init(
        policy: configuration.roles, maximumBodyBytes: configuration.maxBodyBytes,
        listingCacheBytes: configuration.listingCacheBytes),
      logError: { Log.error("request_failed", $0, ["user": current.user, "request_id": current.requestID]) })
    let operations = OperationsEndpoints(
      scoreboard: scoreboard, slot: slot, poolSize: poolSize, configuration: configuration)
    if let scoreboard, let slot { scoreboard.claim(slot, pid: Processes.currentID) }
    let connection = FastCGIConnection(
      listeningDescriptor: FastCGIListener.inheritedDescriptor, maximumBodyBytes: configuration.maxBodyBytes)
    Log.info("worker_ready", "worker serving", ["generation": String(repository.generation)])

    var served = 0
    var consecutiveFailures = 0
    var started: UInt64 = 0
    while !shouldStop() {
      if supervised && Lifeline.parentIsGone() {
        Log.warning("supervisor_gone", "the supervisor is gone; exiting so that no orphan keeps the socket")
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
        Log.error("accept_failed", "FCGX_Accept_r failed", ["code": String(code)])
        if consecutiveFailures >= 100 { return 1 }
      case .request(let request):
        consecutiveFailures = 0
        let apiRequest = APIRequest(request)
        current.user = request.param("REMOTE_USER")
        current.requestID = request.param("REQUEST_ID")
        // The operations pages only for a path nginx matched as it is; any other goes to the API,
        // which refuses it (400) before anything else.
        let operationsResponse =
          apiRequest.targetProblem == nil
          ? operations.respond(to: apiRequest.path, generation: repository.generation) : nil
        let response = operationsResponse ?? FastCGIResponse(api.respond(to: apiRequest))
        let delivered = connection.respond(response)
        let milliseconds = Int((Clock.monotonicNanoseconds() - started) / 1_000_000)
        let slow = milliseconds >= configuration.slowRequestMilliseconds
        if let scoreboard, let slot { scoreboard.endRequest(slot, slow: slow, generation: repository.generation) }
        let fields: KeyValuePairs<StaticString, String?> = [
          "method": apiRequest.method, "path": apiRequest.path, "status": String(response.status),
          "ms": String(milliseconds), "user": current.user, "request_id": current.requestID,
        ]
        if !delivered {
          Log.info("client_gone", "the client went away before the response was written", fields)
        }
        if slow {
          Log.warning("slow_request", "\(apiRequest.method) \(apiRequest.path) took \(milliseconds) ms", fields)
        } else if configuration.accessLog {
          Log.info("request", "\(apiRequest.method) \(apiRequest.path) \(response.status)", fields)
        }
        served += 1
        if configuration.maxRequests > 0 && served >= configuration.maxRequests {
          Log.info("worker_recycled", "served \(served) requests (--max-requests); exiting to be replaced")
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

/// The identity of the request being served, for log lines written from inside the API.
final class CurrentRequest {
  var user: String?
  var requestID: String?
}
