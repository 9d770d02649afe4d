"""Account and profile requests: « Créer un compte », « + Demander un profil », the
requester's list, and the administrators' queues « Demandes de création de profil »."""
