/// Contacts as the data directory and import files hold them: the API's JSON object.
extension Contact {
  /// Reads a contact object written by `json` (or supplied by an import file).
  ///
  /// - Parameter defaultType: the type when the object has none (import files may omit it).
  /// - Throws: `FieldError` for the first missing or mistyped field.
  public init(stored value: JSONValue, defaultType: ContactType? = nil) throws(FieldError) {
    guard case .object(let members) = value else {
      throw FieldError(field: "", message: "must be an object, not \(value.typeDescription)")
    }
    var strings: [String: String] = [:]
    for member in members {
      guard ContactAttribute(rawValue: member.key) != nil else {
        throw FieldError(field: member.key, message: "is not a contact field")
      }
      guard strings[member.key] == nil else { throw FieldError(field: member.key, message: "appears more than once") }
      guard case .string(let text) = member.value else {
        throw FieldError(field: member.key, message: "must be a string, not \(member.value.typeDescription)")
      }
      strings[member.key] = text
    }
    let type: ContactType
    if let text = strings["type"] {
      guard let parsed = ContactType(caseInsensitive: text) else {
        throw FieldError(field: "type", message: "must be Custom, Queue or User, not '\(text)'")
      }
      type = parsed
    } else if let defaultType {
      type = defaultType
    } else {
      throw FieldError(field: "type", message: "is required")
    }
    guard let id = strings["id"], !id.isEmpty else { throw FieldError(field: "id", message: "is required") }
    var name = strings["name"]?.trimmingWhitespace() ?? ""
    if name.isEmpty, type == .user {
      name = [strings["firstName"], strings["lastName"]].compactMap { $0 }.joined(separator: " ").trimmingWhitespace()
    }
    guard !name.isEmpty else { throw FieldError(field: "name", message: "is required") }
    for attribute in [ContactAttribute.userName, .firstName, .lastName, .employeeId]
    where strings[attribute.rawValue] != nil && type != .user {
      throw FieldError(field: attribute.rawValue, message: "is only for users, not \(type.rawValue) contacts")
    }
    self.init(
      id: id, type: type, name: name, phoneNumber: strings["phoneNumber"].flatMap { $0.isEmpty ? nil : $0 },
      userName: strings["userName"], firstName: strings["firstName"], lastName: strings["lastName"],
      employeeId: strings["employeeId"])
  }
}

extension FieldError: Error {}
