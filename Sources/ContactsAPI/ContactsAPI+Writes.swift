import ContactsCore

extension ContactsAPI {
  /// `POST /contacts`: a new custom contact with a server-made id.
  func create(_ context: RequestContext) throws -> APIResponse {
    let key = try idempotencyKey(context)
    if let key, let kept = try repository.keptAnswer(user: context.identity.user, key: key) {
      return try replay(kept, for: context)  // a retry: the first answer, nothing run again
    }
    let body = try parsedBody(context.request).get()
    let draft: CustomContactDraft
    do throws(ValidationFailure) {
      draft = try CustomContactValidation.validateNew(body)
    } catch {
      throw APIError.invalidContact(error)
    }
    var id = ContactID.random()  // before the lock: it holds no one up
    var answer: [UInt8] = []
    let state = try writing { () throws in
      try repository.commit(by: context.identity.user, idempotencyKey: key) { state, kept in
        if let kept { throw KeptAnswerFound(answer: kept) }
        while state.contains(id: id) { id = ContactID.random() }
        let contact = Contact(id: id, type: .custom, name: draft.name, phoneNumber: draft.phoneNumber)
        answer = contact.json
        return CommitPlan(
          [.create(contact)], idempotentAnswer: key.map { self.keep(answer, status: 201, key: $0, for: context) })
      }
    } replaying: { kept in
      try self.replay(kept, for: context)
    }
    guard case .state(let state) = state else { return state.response! }
    let entry = try existing(id, in: state, path: "/contacts/\(id)")
    return APIResponse(
      status: 201,
      headers: [
        Self.jsonContentType,
        .init("Location", "/contacts/\(id)"),
        .init("ETag", EntityTag.forContact(version: entry.version)),
      ],
      body: answer)
  }

  /// `PUT /contacts/{id}`: merges name and/or phone number into a custom contact.
  func update(_ context: RequestContext, id: String) throws -> APIResponse {
    let request = context.request
    let body = parsedBody(request)
    let state = try repository.commit(by: context.identity.user) { state in
      let entry = try existing(id, in: state, path: request.path)
      try checkWritable(entry, context)
      let changes: CustomContactChanges
      do {
        changes = try CustomContactValidation.validateChanges(body.get(), to: entry.contact)
      } catch let failure as ValidationFailure {
        throw APIError.invalidContact(failure)
      }
      return .update(changes.applied(to: entry.contact))
    }
    let entry = try existing(id, in: state, path: request.path)
    return APIResponse(
      status: 200,
      headers: [Self.jsonContentType, .init("ETag", EntityTag.forContact(version: entry.version))],
      body: Array(entry.json))
  }

  /// `DELETE /contacts/{id}`.
  func delete(_ context: RequestContext, id: String) throws -> APIResponse {
    _ = try repository.commit(by: context.identity.user) { state in
      let entry = try existing(id, in: state, path: context.request.path)
      try checkWritable(entry, context)
      // A DELETE needs no body, but one over the limit is refused like any other (413, after
      // 404, 405 and 412), not ignored: nothing of an oversized request is carried out.
      try rejectOversizedBody(context.request)
      return .delete(id: id)
    }
    return APIResponse(status: 204)
  }

  /// 413 when the request's body is over the limit (read or not), whatever the method.
  func rejectOversizedBody(_ request: APIRequest) throws(APIError) {
    let limit = configuration.maximumBodyBytes
    if request.bodyExceededLimit || request.body.count > limit { throw APIError.payloadTooLarge(limit: limit) }
  }

  /// 405 for directory contacts, then 412 when `If-Match`/`If-None-Match` say so.
  private func checkWritable(_ entry: IndexedContact, _ context: RequestContext) throws(APIError) {
    guard entry.type == .custom else {
      throw Self.methodNotAllowed(context.request.method, for: entry.contact)
    }
    _ = try evaluatePreconditions(context, etag: EntityTag.forContact(version: entry.version))
  }

  /// The body as JSON, or the 415 / 413 / 400 it deserves, in that order. Returned rather than
  /// thrown so that a write can report it only after its 404, 405 and 412 checks.
  func parsedBody(_ request: APIRequest, limit: Int? = nil) -> Result<JSONValue, APIError> {
    guard Self.isJSON(request.contentType) else { return .failure(.unsupportedMediaType(request.contentType)) }
    // A coded body (gzip, br) is not read as JSON: RFC 9110 §15.5.16 gives it 415 too.
    if let coding = request.contentEncoding, coding.trimmingWhitespace().lowercased() != "identity" {
      return .failure(.unsupportedContentEncoding(coding))
    }
    let limit = limit ?? configuration.maximumBodyBytes
    if request.bodyExceededLimit || request.body.count > limit {
      return .failure(.payloadTooLarge(limit: limit))
    }
    do {
      return .success(try JSONParser.parse(request.body))
    } catch {
      return .failure(.invalidJSON(error))
    }
  }

  /// `application/json` or `application/*+json`, with no charset or UTF-8.
  static func isJSON(_ contentType: String?) -> Bool {
    guard let contentType else { return false }
    let parts = contentType.lowercased().split(separator: ";").map { String($0).trimmingWhitespace() }
    guard let mediaType = parts.first,
      mediaType == "application/json" || (mediaType.hasPrefix("application/") && mediaType.hasSuffix("+json"))
    else { return false }
    for parameter in parts.dropFirst() where parameter.hasPrefix("charset=") {
      let charset = parameter.dropFirst("charset=".count).filter { $0 != "\"" }
      if charset != "utf-8" && charset != "utf8" { return false }
    }
    return true
  }
}

/// Ids of custom contacts: 32 lowercase hex digits, a version-4 UUID without dashes.
enum ContactID {
  static func random() -> String {
    var generator = SystemRandomNumberGenerator()
    // Two 64-bit draws (two getrandom calls), not sixteen byte-sized ones.
    let words = [generator.next(), generator.next()]
    var bytes = words.flatMap { word in (0..<8).map { UInt8(truncatingIfNeeded: word >> ($0 * 8)) } }
    bytes[6] = (bytes[6] & 0x0F) | 0x40
    bytes[8] = (bytes[8] & 0x3F) | 0x80
    let hex = Array("0123456789abcdef".utf8)
    return String(decoding: bytes.flatMap { [hex[Int($0 >> 4)], hex[Int($0 & 0xF)]] }, as: UTF8.self)
  }
}
