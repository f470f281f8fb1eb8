public import ContactsCore

extension FileContactRepository {
  public var cachedGeneration: UInt64 { generation }
}
extension FileContactRepository: DirectoryImporting {}
