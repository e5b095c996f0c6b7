/// The version of copyprof recorded in profiles, reports and the control protocol's hello.
public enum CopyprofVersion {
    public static let current = "0.2.0"
}
