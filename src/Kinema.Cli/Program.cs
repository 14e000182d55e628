using Kinema.Cli.Commands;

return await KinemaCommandLine.RunAsync(args);
