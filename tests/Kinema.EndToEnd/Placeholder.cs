namespace Kinema.EndToEnd;
