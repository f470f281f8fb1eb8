import ArgumentParser
import ContactsAPI
import ContactsCore
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

  func run() throws {
    let configuration = try options.resolved()
    guard FastCGIListener.isListeningSocket() else {
      throw ValidationError("descriptor 0 is not a listening socket; run 'contacts-fcgi serve' instead")
    }
    let exitCode = WorkerLoop(configuration: configuration).run()
    throw ExitCode(exitCode)
  }
}

/// Accept, answer, repeat, until a signal asks to stop (between requests, never during one).
struct WorkerLoop {
  let configuration: ServiceConfiguration

  func run() -> Int32 {
    // Before FCGX_Init, which would otherwise install libfcgi's own handlers.
    Signals.ignore([Signals.pipe])
    Signals.installFlagHandlers(for: [Signals.terminate, Signals.interrupt, Signals.user1])

    let repository: FileContactRepository
    do {
      repository = try FileContactRepository(
        directory: configuration.dataDirectory, log: { Log.warning("store", $0) })
    } catch {
      Log.error("worker_start_failed", "cannot open the data directory: \(error)")
      return 1
    }
    repository.compactionThresholdBytes = Int64(configuration.journalCompactionBytes)
    let api = ContactsAPI(
      repository: repository,
      configuration: .init(policy: configuration.roles, maximumBodyBytes: configuration.maxBodyBytes),
      logError: { Log.error("request_failed", $0) })
    let connection = FastCGIConnection(
      listeningDescriptor: FastCGIListener.inheritedDescriptor, maximumBodyBytes: configuration.maxBodyBytes,
      interruptingSignals: [Signals.terminate, Signals.interrupt])
    Log.info("worker_ready", "worker serving", ["generation": String(repository.generation)])

    var served = 0
    var consecutiveFailures = 0
    while !shouldStop() {
      switch connection.accept() {
      case .interrupted:
        continue
      case .failed(let code):
        consecutiveFailures += 1
        Log.error("accept_failed", "FCGX_Accept_r failed", ["code": String(code)])
        if consecutiveFailures >= 100 { return 1 }
      case .request(let request):
        consecutiveFailures = 0
        let started = Clock.monotonicNanoseconds()
        let apiRequest = APIRequest(request)
        let response = api.respond(to: apiRequest)
        let delivered = connection.respond(FastCGIResponse(response))
        let milliseconds = Int((Clock.monotonicNanoseconds() - started) / 1_000_000)
        if !delivered {
          Log.info("client_gone", "the client went away before the response was written", ["path": apiRequest.path])
        }
        if milliseconds >= configuration.slowRequestMilliseconds {
          Log.warning(
            "slow_request", "\(apiRequest.method) \(apiRequest.path) took \(milliseconds) ms",
            ["method": apiRequest.method, "path": apiRequest.path, "ms": String(milliseconds)])
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

  private func shouldStop() -> Bool {
    Signals.isPending(Signals.terminate) || Signals.isPending(Signals.interrupt)
  }
}

extension APIRequest {
  /// The API's view of a FastCGI request. Identity comes only from the params nginx sets
  /// itself, `REMOTE_USER` and `CONTACTS_ROLES`; no `HTTP_*` param (a client header) is read
  /// for it. Either one sent twice means a misconfigured nginx, and fails closed.
  init(_ request: FastCGIRequest) {
    let users = request.values(of: "REMOTE_USER")
    let roles = request.values(of: "CONTACTS_ROLES")
    let caller: CallerIdentity
    if users.count > 1 || roles.count > 1 {
      caller = .misconfigured("nginx sent REMOTE_USER or CONTACTS_ROLES more than once")
    } else if let user = users.first, !user.isEmpty {
      if let roles = roles.first {
        caller = .authenticated(Identity(user: user, roles: RolePolicy.roles(fromHeader: roles)))
      } else {
        caller = .misconfigured("nginx did not pass CONTACTS_ROLES; include contacts-params.conf in the location")
      }
    } else {
      caller = .anonymous
    }
    func header(_ name: String) -> String? {
      request.param(name).flatMap { $0.isEmpty ? nil : $0 }
    }
    self.init(
      method: request.param("REQUEST_METHOD") ?? "GET",
      target: request.param("REQUEST_URI") ?? request.param("DOCUMENT_URI") ?? "/",
      caller: caller,
      contentType: header("CONTENT_TYPE"),
      ifMatch: header("HTTP_IF_MATCH"),
      ifNoneMatch: header("HTTP_IF_NONE_MATCH"),
      body: request.body,
      bodyExceededLimit: request.bodyExceededLimit)
  }
}

extension FastCGIResponse {
  init(_ response: APIResponse) {
    self.init(status: response.status, headers: response.headers.map { ($0.name, $0.value) }, body: response.body)
  }
}
