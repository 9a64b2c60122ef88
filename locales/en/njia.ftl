# System words: navigation and errors. Every locale must define all of them.
njia-invalid-choice = Invalid choice.
njia-invalid-input = That is not valid. Try again.
njia-lookup-failed = Sorry, the service is unavailable now. Try again.
njia-lookup-not-found = We could not find that.
njia-nav-back = Back
njia-nav-home = Home
njia-nav-more = More
njia-unknown-service = Sorry, this service does not exist. Dial *384# for e-Citizen services.
njia-technical-problem = Sorry, there is a technical problem. Try again later.
njia-session-expired = Your session has expired. Dial *384# again to start over.
njia-rate-limited = Sorry, there are too many requests right now. Please try again in a minute.
njia-resume-offer = Your last session was cut off. Continue where you left off?
njia-resume-continue = Continue
njia-resume-restart = Start again
