import ContactsCore

extension ContactsAPI {
  /// `GET /contacts/_changes?since=<cursor>&limit=<n>`: the changes after a cursor, in commit
  /// order; without `since`, none and the cursor of now (a starting point).
  func changes(_ context: RequestContext) throws -> APIResponse {
    let parameters = try ChangeFeedQuery.parse(context.request.query)
    let state = try repository.currentState()
    guard let cursorText = parameters.since else {
      let etag = "\"f\(state.generation)\""
      if var notModified = try evaluatePreconditions(context, etag: etag) {
        notModified.headers += cursorHeader(state)
        return notModified
      }
      var body = JSONWriter(reservingCapacity: 64)
      body.append(raw: "{\"changes\":[],\"cursor\":")
      body.append(string: ChangeCursor.text(state.generation))
      body.append(raw: "}")
      return APIResponse(
        status: 200, headers: readHeaders(etag: etag, permissions: context.permissions) + cursorHeader(state),
        body: body.bytes)
    }
    guard let since = ChangeCursor.sequence(cursorText), since <= state.generation else {
      throw APIError.invalidCursor(cursorText)
    }
    let etag = "\"f\(since).\(parameters.limit).\(state.generation)\""
    if var notModified = try evaluatePreconditions(context, etag: etag) {
      notModified.headers += cursorHeader(state)
      return notModified
    }
    guard let page = try repository.changes(after: since, limit: parameters.limit, in: state) else {
      throw APIError.cursorExpired
    }
    let position = page.hasMore ? (page.entries.last?.sequence ?? since) : state.generation
    var headers = readHeaders(etag: etag, permissions: context.permissions) + cursorHeader(state)
    if page.hasMore {
      headers.append(
        .init(
          "Link", "</contacts/_changes?since=\(ChangeCursor.text(position))&limit=\(parameters.limit)>; rel=\"next\""))
    }
    return APIResponse(status: 200, headers: headers, body: Self.renderChanges(page.entries, cursor: position))
  }

  /// `{"changes":[…],"cursor":"…"}`; a contact changed more than once in the page appears once,
  /// at its last change, in its last state.
  static func renderChanges(_ entries: [ChangeEntry], cursor: UInt64) -> [UInt8] {
    var last: [String: Int] = [:]
    for (index, entry) in entries.enumerated() { last[entry.id] = index }
    var body = JSONWriter(reservingCapacity: 32 + entries.count * 160)
    body.append(raw: "{\"changes\":[")
    var first = true
    for (index, entry) in entries.enumerated() where last[entry.id] == index {
      if !first { body.append(raw: ",") }
      first = false
      if let contact = entry.contact {
        body.append(raw: "{\"op\":\"upsert\",\"contact\":")
        body.append(raw: contact.json)
        body.append(raw: "}")
      } else {
        body.append(raw: "{\"op\":\"delete\",\"id\":")
        body.append(string: entry.id)
        body.append(raw: "}")
      }
    }
    body.append(raw: "],\"cursor\":")
    body.append(string: ChangeCursor.text(cursor))
    body.append(raw: "}")
    return body.bytes
  }

  /// `X-Contacts-Cursor`: the position of the data a listing (or the feed) shows.
  func cursorHeader(_ state: DirectoryState) -> [APIResponse.Header] {
    [.init("X-Contacts-Cursor", ChangeCursor.text(state.generation))]
  }

  /// `GET /contacts/_events`. nginx holds the stream (nchan) and asks the responder only whether
  /// the caller may open it: 204 when read permission was granted (checked before this). Reached
  /// without that question, nginx has no nchan module: 501, and clients poll the feed instead.
  func events(_ context: RequestContext) throws -> APIResponse {
    if context.request.authorizesEvents {
      return APIResponse(status: 204, headers: [.init("Cache-Control", "no-store")])
    }
    throw context.request.eventsAvailable ? APIError.notAnEventStream : APIError.eventsUnavailable
  }
}

/// Cursors of the change feed: opaque to clients, `c` and the sequence number here.
enum ChangeCursor {
  static func text(_ sequence: UInt64) -> String { "c\(sequence)" }

  /// The sequence number of a cursor this service made; `nil` for anything else.
  static func sequence(_ text: String) -> UInt64? {
    guard text.count <= 21, text.hasPrefix("c") else { return nil }
    let digits = text.dropFirst()
    guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }), digits.count == 1 || digits.first != "0"
    else { return nil }
    return UInt64(digits)
  }
}

/// The query of `GET /contacts/_changes`: `since` and `limit`, nothing else, each at most once.
struct ChangeFeedQuery {
  var since: String?
  var limit = 1000

  static func parse(_ rawQuery: String) throws(APIError) -> ChangeFeedQuery {
    var query = ChangeFeedQuery()
    var seen: Set<String> = []
    for piece in rawQuery.split(separator: "&", omittingEmptySubsequences: true) {
      let parameter: QueryParameter
      do throws(QueryError) { parameter = try QueryParameter(encoded: piece) } catch {
        throw APIError.invalidQuery(error)
      }
      guard seen.insert(parameter.name).inserted else {
        throw APIError.invalidQuery(
          QueryError(parameter: parameter.name, message: "'\(parameter.name)' may be given only once"))
      }
      switch parameter.name {
      case "since": query.since = parameter.value
      case "limit":
        guard let limit = Int(parameter.value), (1...ContactQuery.maximumLimit).contains(limit) else {
          throw APIError.invalidQuery(
            QueryError(
              parameter: "limit",
              message: "'limit' must be a whole number from 1 to \(ContactQuery.maximumLimit), not '\(parameter.value)'"
            ))
        }
        query.limit = limit
      default:
        throw APIError.invalidQuery(
          QueryError(
            parameter: parameter.name,
            message: "Unknown query parameter '\(parameter.name)'; allowed: since, limit", allowed: ["since", "limit"]))
      }
    }
    return query
  }
}
