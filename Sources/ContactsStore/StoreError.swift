public import ContactsCore
public import Platform

/// Why the data directory could not be read or written.
public enum StoreError: Error, CustomStringConvertible, Sendable {
  /// A syscall failed (disk full, I/O error, permissions…).
  case system(SystemError)
  /// A file holds something this version cannot read: which file, where, what.
  case damaged(file: String, line: Int?, reason: String)
  /// A write that could not be made durable and is not acknowledged: another writer's flush
  /// failed, and the journal was cut back past it (group commit; see `DurableWatermark`).
  case notDurable(String)
  /// An import file is not acceptable; nothing was changed.
  case invalidImport(String)
  /// An import holds no contacts and would remove all `existing` ones of `type`, which was
  /// not explicitly allowed; nothing was changed.
  case importRemovesAll(type: ContactType, existing: Int)
  /// An imported `id` already belongs to a contact of another `type`; nothing was changed.
  case importIDTaken(id: String, type: ContactType)

  public var description: String {
    switch self {
    case .system(let error): "data directory: \(error)"
    case .damaged(let file, let line, let reason):
      "data directory damaged: \(file)\(line.map { " line \($0)" } ?? ""): \(reason)"
    case .notDurable(let reason): "data directory: not made durable: \(reason)"
    case .invalidImport(let reason): reason
    case .importRemovesAll(let type, let existing):
      "the file holds no \(type.rawValue) contacts: importing it would remove all \(existing) existing ones"
    case .importIDTaken(let id, let type): DirectoryImportError.idTaken(id: id, type: type).description
    }
  }
}

extension StoreError {
  /// Runs `body`, reporting a failed syscall as `.system`: the one place where the store turns
  /// a `SystemError` into its own error.
  static func wrapping<Result>(_ body: () throws(SystemError) -> Result) throws(StoreError) -> Result {
    do {
      return try body()
    } catch {
      throw .system(error)
    }
  }
}
