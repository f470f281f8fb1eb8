import ContactsCore
import ContactsPostgres
import ContactsStore
import FastCGI
import Platform

/// `/_contacts/ping`, `/_contacts/status` and `/_contacts/metrics`: answered by the worker before
/// the API, for monitoring (nginx lets only local callers reach them). The status page and the
/// metrics read the scoreboard every worker of the pool writes to, as php-fpm's status does: one
/// scrape answers for the whole pool.
struct OperationsEndpoints {
  static let pingPath = "/_contacts/ping"
  static let statusPath = "/_contacts/status"
  static let metricsPath = "/_contacts/metrics"

  let scoreboard: Scoreboard?
  let slot: Int?
  let poolSize: Int
  let configuration: ServiceConfiguration

  /// The response for an operations path, or `nil` for every other path.
  ///
  /// - Parameters:
  /// - Parameter repository: the worker's store (as opened, not measured), for the metrics'
  ///   gauges.
  func respond(to path: String, repository: any ContactRepository) -> FastCGIResponse? {
    switch path {
    case Self.pingPath:
      return FastCGIResponse(
        status: 200, headers: [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store")],
        body: Array("pong\n".utf8))
    case Self.statusPath:
      return FastCGIResponse(
        status: 200,
        headers: [("Content-Type", "application/json; charset=utf-8"), ("Cache-Control", "no-store")],
        body: status(generation: storeGeneration(repository)))
    case Self.metricsPath:
      return FastCGIResponse(
        status: 200,
        headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8"), ("Cache-Control", "no-store")],
        body: Array(metrics(repository: repository).utf8))
    default:
      return nil
    }
  }

  /// The store's generation now, as the metrics report it: read from the store, not this
  /// worker's cache, which lags until its next request reads the store (a status answered by the
  /// worker that did not take the last write would otherwise show the one before). The cached
  /// one when the store cannot be read.
  private func storeGeneration(_ repository: any ContactRepository) -> UInt64 {
    (try? repository.currentState())?.generation ?? repository.cachedGeneration
  }

  private func status(generation: UInt64) -> [UInt8] {
    var slots: [Scoreboard.Slot] = []
    if let scoreboard {
      slots = (0..<scoreboard.slotCount).map(scoreboard.slot).filter { $0.state != .free }
    }
    let now = Clock.monotonicNanoseconds()
    let active = slots.filter { $0.state == .busy }.count
    let startedAt = scoreboard?.startedAt ?? Clock.unixSeconds()
    var writer = JSONWriter(reservingCapacity: 1024)
    writer.append(raw: "{")
    writer.append(key: "processManager", string: "static", first: true)
    writer.append(key: "startedAt", integer: startedAt)
    writer.append(key: "uptimeSeconds", integer: Clock.unixSeconds() - startedAt)
    writer.append(raw: ",\"workers\":{")
    writer.append(key: "configured", integer: poolSize, first: true)
    writer.append(key: "total", integer: slots.count)
    writer.append(key: "active", integer: active)
    writer.append(key: "idle", integer: slots.count - active)
    writer.append(raw: "}")
    writer.append(
      key: "acceptedRequests", integer: (scoreboard?.retiredRequests ?? 0) + slots.reduce(0) { $0 + $1.requests })
    writer.append(
      key: "slowRequests", integer: (scoreboard?.retiredSlowRequests ?? 0) + slots.reduce(0) { $0 + $1.slowRequests })
    writer.append(key: "restarts", integer: scoreboard?.restarts ?? 0)
    writer.append(key: "requestTimeouts", integer: scoreboard?.timeouts ?? 0)
    writer.append(key: "maxRequests", integer: configuration.maxRequests)
    writer.append(key: "requestTimeoutSeconds", integer: configuration.requestTimeoutSeconds)
    writer.append(key: "slowRequestMilliseconds", integer: configuration.slowRequestMilliseconds)
    writer.append(key: "dataGeneration", integer: generation)
    writer.append(raw: ",\"perWorker\":[")
    for (index, slot) in slots.sorted(by: { $0.pid < $1.pid }).enumerated() {
      if index > 0 { writer.append(raw: ",") }
      writer.append(raw: "{")
      writer.append(key: "pid", integer: slot.pid, first: true)
      writer.append(key: "state", string: slot.state == .busy ? "busy" : "idle")
      writer.append(key: "requests", integer: slot.requests)
      writer.append(key: "slowRequests", integer: slot.slowRequests)
      writer.append(key: "startedAt", integer: slot.startedAt)
      writer.append(key: "dataGeneration", integer: slot.generation)
      if slot.state == .busy && now > slot.requestStarted {
        writer.append(key: "currentRequestMilliseconds", integer: (now - slot.requestStarted) / 1_000_000)
      }
      writer.append(raw: "}")
    }
    writer.append(raw: "]}\n")
    return writer.bytes
  }

  /// The Prometheus text exposition format (0.0.4), for the whole pool: the scoreboard's counters
  /// summed over every slot and over the workers that have exited; the store's gauges as this
  /// worker reads the store now.
  private func metrics(repository: any ContactRepository) -> String {
    var page = PrometheusText()
    let slots = scoreboard.map { board in (0..<board.slotCount).map(board.slot).filter { $0.state != .free } } ?? []
    let totals = scoreboard?.metrics()
    page.family("contacts_start_time_seconds", .gauge, "When the pool started (Unix time).")
    page.sample("contacts_start_time_seconds", scoreboard?.startedAt ?? Clock.unixSeconds())
    page.family("contacts_workers_configured", .gauge, "Workers the pool is configured to run.")
    page.sample("contacts_workers_configured", poolSize)
    page.family("contacts_workers", .gauge, "Running workers, by state (busy: on a request, this one included).")
    page.sample("contacts_workers", slots.filter { $0.state == .idle }.count, ["state": "idle"])
    page.sample("contacts_workers", slots.filter { $0.state == .busy }.count, ["state": "busy"])

    page.family("contacts_requests_total", .counter, "Requests answered, by method and status class.")
    for (methodIndex, method) in Scoreboard.methods.enumerated() {
      for statusClass in 1...Scoreboard.statusClasses {
        let count = totals?.requests[methodIndex][statusClass - 1] ?? 0
        guard count > 0 || statusClass > 1 else { continue }
        page.sample("contacts_requests_total", count, ["method": method, "status": "\(statusClass)xx"])
      }
    }
    page.histogram(
      "contacts_request_duration_seconds", "Time from accepting a request to its last byte written.",
      totals?.requestDuration)
    page.family("contacts_slow_requests_total", .counter, "Requests that took slowRequestMilliseconds or more.")
    page.sample(
      "contacts_slow_requests_total", (scoreboard?.retiredSlowRequests ?? 0) + slots.reduce(0) { $0 + $1.slowRequests })
    page.family("contacts_request_timeouts_total", .counter, "Requests past requestTimeoutSeconds (worker killed).")
    page.sample("contacts_request_timeouts_total", scoreboard?.timeouts ?? 0)
    page.family("contacts_worker_restarts_total", .counter, "Workers replaced, by why the old one went.")
    for reason in Scoreboard.RestartReason.allCases {
      page.sample("contacts_worker_restarts_total", totals?.replacements[reason] ?? 0, ["reason": reason.label])
    }

    page.histogram(
      "contacts_store_commit_duration_seconds", "Time to commit a change durably (lock, decide, write, sync).",
      totals?.commitDuration)
    if repository is FileContactRepository {
      page.family(
        "contacts_held_answers_total", .counter, "Answers held until a flush of the journal covered their changes.")
      page.sample("contacts_held_answers_total", totals?.heldAnswers ?? 0)
      page.family(
        "contacts_held_batches_total", .counter, "Flushes that released held answers (answers ÷ batches: per flush).")
      page.sample("contacts_held_batches_total", totals?.heldBatches ?? 0)
    }
    page.family("contacts_store_errors_total", .counter, "Store calls that failed as unavailable (answered 503).")
    page.sample("contacts_store_errors_total", totals?.storeErrors ?? 0)
    if repository is PostgresContactRepository {
      page.family("contacts_store_reconnects_total", .counter, "Database connections made again after one was lost.")
      page.sample("contacts_store_reconnects_total", totals?.storeReconnects ?? 0)
    }
    let state = try? repository.currentState()
    page.family("contacts_store_up", .gauge, "Whether this scrape could read the store (0: requests answer 503).")
    page.sample("contacts_store_up", state == nil ? 0 : 1)
    page.family("contacts_data_generation", .gauge, "The data generation (the last change's sequence number).")
    page.sample("contacts_data_generation", state?.generation ?? repository.cachedGeneration)
    if let state {
      var counts: [ContactType: Int] = [:]
      for entry in state.entries { counts[entry.type, default: 0] += 1 }
      page.family("contacts_contacts", .gauge, "Contacts, by type.")
      for type in ContactType.allCases { page.sample("contacts_contacts", counts[type] ?? 0, ["type": type.rawValue]) }
    }
    if let files = repository as? FileContactRepository {
      page.family("contacts_journal_bytes", .gauge, "Size of the data directory's journal (compacted past a bound).")
      page.sample("contacts_journal_bytes", files.journalBytes)
    }

    page.family("contacts_listing_cache_bytes", .gauge, "Bytes of listings the workers keep, summed.")
    page.sample("contacts_listing_cache_bytes", totals?.listingCacheBytes ?? 0)
    page.family("contacts_listing_cache_pages", .gauge, "Listing pages the workers keep, summed.")
    page.sample("contacts_listing_cache_pages", totals?.listingCachePages ?? 0)
    page.family("contacts_listing_cache_hits_total", .counter, "Listings answered from a worker's cache.")
    page.sample("contacts_listing_cache_hits_total", totals?.listingCacheHits ?? 0)
    page.family("contacts_listing_cache_misses_total", .counter, "Listings rendered because they were not cached.")
    page.sample("contacts_listing_cache_misses_total", totals?.listingCacheMisses ?? 0)
    return page.text
  }
}

/// Prometheus' text exposition format, version 0.0.4: `# HELP` and `# TYPE` per family, then its
/// samples, one per line.
struct PrometheusText {
  enum Kind: String {
    case counter, gauge, histogram
  }

  private(set) var text = ""

  mutating func family(_ name: String, _ kind: Kind, _ help: String) {
    text += "# HELP \(name) \(help.replacingBackslashesAndNewlines)\n# TYPE \(name) \(kind.rawValue)\n"
  }

  mutating func sample(_ name: String, _ value: some BinaryInteger, _ labels: KeyValuePairs<String, String> = [:]) {
    sample(name, "\(value)", labels)
  }

  mutating func sample(_ name: String, _ value: String, _ labels: KeyValuePairs<String, String>) {
    text += name
    if !labels.isEmpty {
      text += "{" + labels.map { "\($0.key)=\"\($0.value.escapedLabelValue)\"" }.joined(separator: ",") + "}"
    }
    text += " \(value)\n"
  }

  /// A histogram from a scoreboard's per-bucket counts: cumulative `_bucket`s, `_sum`, `_count`.
  mutating func histogram(_ name: String, _ help: String, _ histogram: Scoreboard.Histogram?) {
    family(name, .histogram, help)
    let counts = histogram?.buckets ?? Array(repeating: 0, count: Scoreboard.durationBucketsNanoseconds.count + 1)
    var cumulative: Int64 = 0
    for (index, count) in counts.enumerated() {
      cumulative += count
      let bound =
        index < Scoreboard.durationBucketsNanoseconds.count
        ? Self.seconds(nanoseconds: Scoreboard.durationBucketsNanoseconds[index]) : "+Inf"
      sample("\(name)_bucket", "\(cumulative)", ["le": bound])
    }
    sample("\(name)_sum", Self.seconds(nanoseconds: UInt64(max(0, histogram?.sumMicroseconds ?? 0)) * 1000), [:])
    sample("\(name)_count", cumulative)
  }

  /// Seconds as a plain decimal ("0.0025", "10"): exact, no exponent.
  static func seconds(nanoseconds: UInt64) -> String {
    let whole = nanoseconds / 1_000_000_000
    var fraction = String(nanoseconds % 1_000_000_000)
    guard fraction != "0" else { return "\(whole)" }
    fraction = String(repeating: "0", count: 9 - fraction.count) + fraction
    while fraction.hasSuffix("0") { fraction.removeLast() }
    return "\(whole).\(fraction)"
  }
}

extension String {
  /// A label value as the format wants it: backslash, double quote and newline escaped.
  fileprivate var escapedLabelValue: String {
    replacingBackslashesAndNewlines.split(separator: "\"", omittingEmptySubsequences: false).joined(separator: "\\\"")
  }

  /// Backslash and newline escaped (HELP text).
  fileprivate var replacingBackslashesAndNewlines: String {
    split(separator: "\\", omittingEmptySubsequences: false).joined(separator: "\\\\")
      .split(separator: "\n", omittingEmptySubsequences: false).joined(separator: "\\n")
  }
}
