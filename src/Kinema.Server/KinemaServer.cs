namespace Kinema.Server;

/// <summary>Builds the Kinema HTTP host.</summary>
public static class KinemaServer;
